/**
 * A failed provider call, classified for the router: whether to retry, fall back, cool down, or give up.
 * Messages are scrubbed of the provider key before this is built.
 */
export class ProviderError extends Error {
  constructor(
    readonly kind: 'http' | 'timeout' | 'network' | 'aborted' | 'protocol',
    message: string,
    readonly status?: number,
    /** From Retry-After, in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ProviderError';
  }

  /** Worth another attempt (here or elsewhere): rate limits, server errors, timeouts, dropped connections. */
  get retryable(): boolean {
    if (this.kind === 'aborted') return false;
    if (this.kind !== 'http') return true;
    const s = this.status ?? 0;
    return s === 408 || s === 409 || s === 429 || s >= 500;
  }

  /** The request itself is at fault; another deployment would refuse it too. */
  get requestFault(): boolean {
    return this.kind === 'http' && (this.status === 400 || this.status === 413 || this.status === 422);
  }
}

/** Retry-After as seconds or an HTTP date, in ms. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs) && secs >= 0) return Math.round(secs * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
