import type { PrismaClient } from "../db/database.ts";
import type { Logger } from "../logger/logger.ts";
import type { EtlRunner } from "../pipeline/etl-runner.ts";
import type { EventBus } from "../pipeline/events.ts";
import type { Finality } from "../services/candles.ts";
import type { ConsensusSettings } from "../services/consensus.ts";
import type { SourceId } from "../sources/record.ts";
import type { AuthFailureLimiter } from "./auth.ts";
import type { MarketFeed } from "./live/market-feed.ts";

/** Long-lived services the resolvers use; built once by createApp (app.ts). */
export interface GraphQLServices {
  runner: EtlRunner;
  bus: EventBus;
  feed: MarketFeed;
  /** ETL_API_KEY: unset = the mutations that need it are refused. */
  etlApiKey?: string;
  /** CONSENSUS_FRESHNESS_SECONDS, CONSENSUS_DEVIATION_PCT and MAX_CLOCK_SKEW_SECONDS. */
  consensus: ConsensusSettings;
  enabledSources: SourceId[];
  /** Failed API-key attempts per client. */
  authLimiter: AuthFailureLimiter;
  /** SUBSCRIPTION_BUFFER_SIZE: events held per subscription for a client that is not reading. */
  subscriptionBufferSize: number;
  /** CANDLE_FINALITY_SECONDS (and, in tests, the clock candles are judged by). */
  candleFinality: Finality;
}

/** What every resolver may use; built per request (or per WebSocket subscription) by the server. */
export interface GraphQLContext {
  prisma: PrismaClient;
  requestId: string;
  logger: Logger;
  services: GraphQLServices;
  /** The Authorization header (HTTP) or connectionParams.authorization (WebSocket). */
  authorization: string | null;
  /** Who is calling, for per-client limits (remote address). */
  clientId: string;
  /**
   * Resolves when the client's connection can take more data (WebSocket send buffer drained);
   * undefined when it can now.
   */
  backpressure?: () => Promise<void> | undefined;
  /** Subscriptions: when the event being resolved arrived (performance.now()), for its latencyMs. */
  liveEventAt?: number;
}
