import type { RetryConfig } from "./config.js";

/**
 * Delay before retry number `attempt` (0 = the first retry): exponential or linear growth,
 * capped at `maxRetryDelayMs`, then spread by ±`jitter` so that many viewers hitting the same
 * failure (an origin, the tracker) do not retry in lockstep. Retry behaviour is data.
 */
export function backoffDelay(
  cfg: Pick<RetryConfig, "retryDelayMs" | "maxRetryDelayMs" | "backoff" | "jitter">,
  attempt: number,
  random: () => number,
): number {
  const n = Math.max(0, Math.floor(attempt));
  const grown =
    cfg.backoff === "exponential"
      ? cfg.retryDelayMs * 2 ** Math.min(n, 30)
      : cfg.retryDelayMs * (n + 1);
  const capped = Math.min(grown, cfg.maxRetryDelayMs);
  const r = Math.min(1, Math.max(0, random()));
  return Math.max(0, Math.round(capped * (1 + cfg.jitter * (2 * r - 1))));
}
