import type { RetryConfig } from "./config.js";

/**
 * Delay before retry number `attempt` (0 = the first retry): exponential or linear growth,
 * capped at `maxRetryDelayMs`, then spread by ±`jitter` so that many viewers hitting the same
 * failure do not retry in lockstep.
 */
export function backoffDelay(
  cfg: Pick<RetryConfig, "retryDelayMs" | "maxRetryDelayMs" | "backoff" | "jitter">,
  attempt: number,
  random: () => number,
): number {
  const grown =
    cfg.backoff === "exponential"
      ? cfg.retryDelayMs * 2 ** attempt
      : cfg.retryDelayMs * (attempt + 1);
  const capped = Math.min(grown, cfg.maxRetryDelayMs);
  const spread = 1 + cfg.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(capped * spread));
}
