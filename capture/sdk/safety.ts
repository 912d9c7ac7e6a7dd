// The SDK's promise to its host: no error of ours reaches the app. Everything the SDK does on
// the request path runs through `guard`, which logs (rate-limited: a hot path that fails fails
// thousands of times a second) and counts instead of throwing.
import type { Logger } from '../../core/logger';

export interface RateLimitedLog {
  warn(key: string, fields: Record<string, unknown>, message: string): void;
}

/** Logs the first occurrence of each key, then at most one line per `everyMs` with how many were suppressed. */
export function rateLimitedLog(logger: Logger, everyMs = 10_000): RateLimitedLog {
  const last = new Map<string, { at: number; suppressed: number }>();
  return {
    warn(key, fields, message) {
      const now = Date.now();
      const seen = last.get(key);
      if (seen && now - seen.at < everyMs) {
        seen.suppressed += 1;
        return;
      }
      logger.warn({ ...fields, ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}) }, message);
      last.set(key, { at: now, suppressed: 0 });
    },
  };
}
