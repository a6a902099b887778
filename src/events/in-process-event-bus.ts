import type { BusEvent, EventBus } from './event-bus.js';

/** The embedded EventBus: subscribers in this process only. */
export class InProcessEventBus implements EventBus {
  private readonly channels = new Map<string, Set<(event: BusEvent) => void>>();
  private closed = false;

  constructor(private readonly onHandlerError: (err: unknown) => void = () => {}) {}

  publish(channel: string, event: BusEvent): Promise<void> {
    if (this.closed) return Promise.resolve();
    const handlers = this.channels.get(channel);
    if (handlers) {
      // Copy: a handler may unsubscribe while we deliver.
      for (const h of [...handlers]) {
        try {
          h(event);
        } catch (err) {
          this.onHandlerError(err);
        }
      }
    }
    return Promise.resolve();
  }

  listened(channel: string): boolean {
    return !this.closed && this.channels.has(channel);
  }

  subscribe(channel: string, handler: (event: BusEvent) => void): () => void {
    let set = this.channels.get(channel);
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(handler);
    return () => {
      const s = this.channels.get(channel);
      if (!s) return;
      s.delete(handler);
      if (s.size === 0) this.channels.delete(channel);
    };
  }

  close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
    return Promise.resolve();
  }
}
