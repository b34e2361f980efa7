export interface RetryOptions {
  attempts: number;
  baseMs?: number;
  maxMs?: number;
  onRetry?: (error: Error, attempt: number, delayMs: number) => void;
}

/** Retries fn with capped exponential backoff; rethrows the last error. */
export async function retryWithBackoff<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 10_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= options.attempts) throw error;
      const delayMs = Math.min(max, base * 2 ** (attempt - 1));
      options.onRetry?.(error instanceof Error ? error : new Error(String(error)), attempt, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
