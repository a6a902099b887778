import type { RetryPolicy } from '../workflows/workflow-definition.js';
import { parseDuration } from '../config/setting.js';

/**
 * Delay before attempt `attempt + 1` after attempt `attempt` failed. Exponential doubles from
 * `delay` (default 1s) up to `max_delay` (default 5m); jitter (default on) spreads retries of many
 * runs over ±50% so they do not hit an upstream together.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = parseDuration(policy.delay ?? '1s') ?? 1000;
  const max = parseDuration(policy.max_delay ?? '5m') ?? 300_000;
  const raw = policy.backoff === 'exponential' ? base * 2 ** Math.max(0, attempt - 1) : base;
  const capped = Math.min(raw, max);
  if (policy.jitter === false) return capped;
  return Math.round(capped * (0.5 + random()));
}
