/**
 * Counts events per key in fixed windows, in process. Used for sign-in attempts and bad credentials,
 * which must be counted before (and whether or not) a request authenticates, and for the per-user and
 * per-address request limits (src/http/request-limits.ts).
 */
export class FixedWindowLimiter {
  private windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Seconds until the key may try again, or 0 when it is under the limit. */
  retryAfter(key: string, now = Date.now()): number {
    const w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs || w.count < this.max) return 0;
    return this.secondsLeft(w, now);
  }

  hit(key: string, now = Date.now()): void {
    this.take(key, now);
  }

  /**
   * Counts one event for the key and returns its window: when it started and how many events it holds, this one
   * included. (The window itself, not a copy: read it before the next call.)
   */
  take(key: string, now = Date.now()): Readonly<{ start: number; count: number }> {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size > 100_000) this.sweep(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    w.count += 1;
    return w;
  }

  /** The most events a key may have in one window. */
  get limit(): number {
    return this.max;
  }

  /** Whole seconds (at least 1) until a window taken at `now` ends. */
  secondsLeft(window: Readonly<{ start: number }>, now = Date.now()): number {
    return Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000));
  }

  /** Takes back one `hit` of the current window (an attempt that turned out fine). */
  refund(key: string, now = Date.now()): void {
    const w = this.windows.get(key);
    if (w && now - w.start < this.windowMs && w.count > 0) w.count -= 1;
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
  }
}
