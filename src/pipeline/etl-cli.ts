import type { SourceId } from "../sources/record.ts";
import type { RunSummary } from "./run-summary.ts";

export interface EtlArgs {
  json: boolean;
  sources?: SourceId[];
  resetDrift?: SourceId;
}

const NAMES: Record<string, SourceId> = { coingecko: "COINGECKO", coinpaprika: "COINPAPRIKA", csv: "CSV" };

export const ETL_USAGE =
  "usage: npm run etl -- [--source coingecko|coinpaprika|csv[,…]]… [--json] [--reset-drift <source>]";

function sourceName(value: string | undefined): SourceId {
  const id = value ? NAMES[value.trim().toLowerCase()] : undefined;
  if (!id)
    throw new Error(`unknown source "${value ?? ""}"; expected coingecko, coinpaprika or csv\n${ETL_USAGE}`);
  return id;
}

/** Parses `npm run etl` options; throws with the usage line on anything unknown. */
export function parseEtlArgs(argv: readonly string[]): EtlArgs {
  const args: EtlArgs = { json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s) : [arg, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === "--json") args.json = true;
    else if (flag === "--source") {
      const names = (value() ?? "").split(",").filter(Boolean);
      if (names.length === 0) throw new Error(`--source needs a value\n${ETL_USAGE}`);
      args.sources = [...new Set([...(args.sources ?? []), ...names.map(sourceName)])];
    } else if (flag === "--reset-drift") args.resetDrift = sourceName(value());
    else throw new Error(`unknown option "${arg}"\n${ETL_USAGE}`);
  }
  return args;
}

/** The --json line: every key always present, error null when none, source names in enum spelling. */
export function formatRunJson(summary: RunSummary | { error: string }): string {
  return JSON.stringify(
    "runId" in summary
      ? summary
      : {
          runId: null,
          status: "FAILED",
          durationMs: 0,
          alreadyRunning: false,
          error: summary.error,
          sources: [],
        },
  );
}
