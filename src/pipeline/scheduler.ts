import type { Logger } from "../logger/logger.ts";
import type { EtlRunner } from "./etl-runner.ts";

/**
 * The built-in schedule. Every process runs it; the run lock plus the slot check make it one run
 * per slot (⌊now / interval⌋) across the cluster. Intervals are start to start, runs never
 * overlap, missed slots are not caught up. The first run starts right after startup without
 * delaying the server.
 */
export function createScheduler(options: { runner: EtlRunner; intervalSeconds: number; logger: Logger }) {
  const log = options.logger.child({ module: "scheduler" });
  const intervalMs = options.intervalSeconds * 1000;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  const tick = async () => {
    if (stopped) return;
    const slot = BigInt(Math.floor(Date.now() / intervalMs));
    try {
      const started = await options.runner.start({ trigger: "SCHEDULE", scheduleSlot: slot });
      if (!started.skipped && !started.alreadyRunning) await started.done;
    } catch (error) {
      log.error({ err: (error as Error).message }, "scheduled run could not start");
    }
  };

  const scheduleNext = () => {
    if (stopped) return;
    const next = (Math.floor(Date.now() / intervalMs) + 1) * intervalMs;
    timer = setTimeout(async () => {
      await tick();
      scheduleNext();
    }, next - Date.now());
  };

  return {
    start() {
      if (intervalMs <= 0) return;
      stopped = false;
      timer = setTimeout(async () => {
        await tick();
        scheduleNext();
      }, 0);
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
