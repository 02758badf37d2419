/** Jittered retry delays computed from a {@link RetryConfig} (retry behaviour is data). */
import type { RetryConfig } from "../config.js";

/**
 * Delay before retry number `attempt` (0-based): `retryDelayMs` growing exponentially or
 * linearly, capped at `maxRetryDelayMs`, then spread by ±`jitter` so that many clients
 * that lost the same server do not come back at the same instant.
 */
export function backoffDelay(attempt: number, retry: RetryConfig, random: () => number): number {
  const n = Math.max(0, Math.floor(attempt));
  const base =
    retry.backoff === "exponential"
      ? retry.retryDelayMs * 2 ** Math.min(n, 30)
      : retry.retryDelayMs * (n + 1);
  const capped = Math.min(base, retry.maxRetryDelayMs);
  const r = Math.min(1, Math.max(0, random()));
  return Math.max(0, Math.round(capped * (1 + retry.jitter * (2 * r - 1))));
}
