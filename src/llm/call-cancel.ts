/**
 * What the LLM layer needs of a cancellation signal. A real AbortSignal (a workflow run's, a chat's) is one; so is
 * a {@link CallCancel}.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * The cancellation of one gateway call, aborted when its client goes away: an AbortSignal's `abort` event,
 * `aborted` and `reason`, without an AbortSignal.
 *
 * Node 20 promotes every AbortSignal to the old generation. A `new AbortController().signal` that nothing
 * references survives the young-generation GC all the same (measured with `--trace-gc-nvp`: 0 bytes promoted for a
 * plain object or an EventTarget, about 400 bytes per AbortSignal), and one handed to undici takes the request's
 * objects with it. Plain gateway calls at 500 a second promoted 6.3–6.4 MB per 5,000 calls with an AbortSignal each,
 * 3.9–4.1 MB with this; a bare Fastify + undici proxy, 0.8 MB without a signal and 3.3 MB with one
 * (docs/benchmarks.md, "gateway"). What is promoted fills the old space, and the mark-compacts that empty it take
 * the server's core for tens of milliseconds: the calls in those stretches make the gateway's p99.
 *
 * undici takes it as a request's `signal`: its option accepts any object with `addEventListener`, `aborted` and
 * `reason`, and calls only those.
 */
export class CallCancel implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] | undefined;

  /** As on an AbortSignal: a listener added twice is called once, and one added after the abort never. */
  addEventListener(type: 'abort', listener: () => void): void {
    if (type !== 'abort' || this.aborted) return;
    const list = (this.listeners ??= []);
    if (!list.includes(listener)) list.push(listener);
  }

  removeEventListener(type: 'abort', listener: () => void): void {
    const list = this.listeners;
    if (type !== 'abort' || !list) return;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  }

  /**
   * Aborts once: sets `aborted` and `reason`, then calls each listener in the order added. A listener that throws
   * does not stop the others; its error is thrown afterwards, uncaught, as an EventTarget's listener's would be.
   */
  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const list = this.listeners;
    this.listeners = undefined;
    for (const listener of list ?? []) {
      try {
        listener.call(this);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }
}
