import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventBus } from '../events/event-bus.js';

/** The bus channel on which nodes announce changes of providers, aliases and prices. */
export const LLM_CHANNEL = 'llm';
/** How soon a failed reload is tried again when no further announcement comes first. */
const RETRY_MS = 5000;

/** What RegistrySync needs of the ProviderRegistry. */
export interface Reloadable {
  load(): Promise<void>;
  setAnnouncer(announce: () => void): void;
}

/**
 * Keeps this node's in-memory providers, aliases and prices in step with changes other nodes (API nodes,
 * `clarion worker`) commit to the shared database: without it a deleted provider's key stays usable, an alias
 * routes the old way and a new price is not charged on every node but the one that took the API call.
 *
 * A node announces each change it commits on the `llm` channel (the registry calls back after the write); every
 * node reloads when another one's announcement arrives. Announcements carry no data, only "reload": the
 * database stays the one source, so a missed or reordered announcement cannot leave a wrong state, only a late
 * one. Bursts are coalesced: one reload at a time, and one more after it if announcements came meanwhile (it
 * reads everything they announced). A failed reload is logged and tried again on the next announcement or after
 * `retryMs`.
 *
 * Over Redis (`redis_url`) announcements reach the other processes within the pub/sub delay; the in-process bus
 * has no other process to tell.
 */
export class RegistrySync {
  /** Tells this node's own announcements apart: the node that made a change has already reloaded. */
  private readonly origin = randomUUID();
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly registry: Reloadable,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly retryMs = RETRY_MS,
  ) {}

  start(): void {
    this.stopped = false;
    this.unsubscribe = this.bus.subscribe(LLM_CHANNEL, (e) => {
      if (e.type === 'changed' && e.origin !== this.origin) this.reloadSoon();
    });
    this.registry.setAnnouncer(() => this.announce());
    // The registry was loaded before this subscription, which Redis takes on asynchronously: a change committed
    // elsewhere in between would go unheard, so read once more once the subscription holds.
    this.bus.ready?.().then(
      () => this.reloadSoon(),
      () => {},
    );
  }

  /** Unsubscribes, stops announcing and retrying, and waits for a reload in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.registry.setAnnouncer(() => {});
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.running;
  }

  private announce(): void {
    if (this.stopped) return;
    // Best effort, as the bus is: a node that misses it keeps its old copy until the next change or its restart.
    this.bus
      .publish(LLM_CHANNEL, { type: 'changed', origin: this.origin })
      .catch((err: unknown) => this.logger.warn({ err }, 'announcing an LLM configuration change failed'));
  }

  /** Reloads now, or right after the reload in progress. */
  private reloadSoon(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run();
  }

  private async run(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.registry.load();
      } catch (err) {
        // With another announcement already in, the loop tries again at once; otherwise a timer does.
        this.logger.error({ err }, 'reloading LLM providers, aliases and prices after a change elsewhere failed');
        if (!this.again && !this.stopped) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.reloadSoon();
          }, this.retryMs);
          this.retryTimer.unref();
        }
      }
    } while (this.again && !this.stopped);
    this.running = undefined;
  }
}
