import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventBus } from '../events/event-bus.js';

/** The bus channel on which nodes announce changes of providers, aliases and prices (ProviderRegistry). */
export const LLM_CHANNEL = 'llm';
/** The bus channel on which nodes announce changes of budgets (BudgetService). */
export const BUDGETS_CHANNEL = 'llm:budgets';
/** How soon a failed reload is tried again when no further announcement comes first. */
const RETRY_MS = 5000;
/** How often a node with other processes to hear from re-reads anyway (a few small queries a minute). */
export const LLM_RESYNC_MS = 60_000;

/**
 * What RegistrySync needs of the state it keeps in step (the `reloads` of the ProviderRegistry and of the
 * BudgetService): a reload from the database, and a hook it calls after each change it commits.
 */
export interface Reloadable {
  load(): Promise<void>;
  setAnnouncer(announce: () => void): void;
}

/**
 * What is the same in every state RegistrySync keeps in step: loads run one at a time, in call order (interleaved,
 * an older read could replace a newer one's result), and a change this node commits is announced before its own
 * reload, which finishes before the caller answers (read-your-writes).
 */
export class SerialReloads implements Reloadable {
  private loading: Promise<void> = Promise.resolve();
  private announce: () => void = () => {};

  /** `read` reads the state from the database and replaces it (only once everything is read). */
  constructor(private readonly read: () => Promise<void>) {}

  load(): Promise<void> {
    const run = this.loading.then(this.read);
    this.loading = run.catch(() => {});
    return run;
  }

  /** RegistrySync's hook, called after each change this node commits. It must not throw. */
  setAnnouncer(announce: () => void): void {
    this.announce = announce;
  }

  /** After a committed write: the other nodes are told at once; this one reloads before answering. */
  async committed(): Promise<void> {
    this.announce();
    await this.load();
  }
}

export interface RegistrySyncOptions {
  /** The bus channel of the announcements: one per Reloadable, so a change reloads only the state it changed. */
  channel: string;
  /** What is reloaded, for log messages ("LLM budgets"). */
  what: string;
  /** How soon a failed reload is tried again when no further announcement comes first. */
  retryMs?: number;
  /**
   * Reload this often whatever was heard (unset: never). Announcements are best effort: one sent while Redis was
   * away is lost, and without this a node would keep a deleted provider's key or a lowered budget's old limit
   * until the next change or its restart.
   */
  resyncMs?: number;
}

/**
 * Keeps state this node holds in memory from the shared database in step with changes other nodes (API nodes,
 * `clarion worker`) commit to it. One instance per Reloadable and channel: the ProviderRegistry on `llm` (without
 * it a deleted provider's key stays usable, an alias routes the old way and a new price is not charged on every
 * node but the one that took the API call), the BudgetService on `llm:budgets` (a new or lowered budget is not
 * enforced, a raised or deleted one still refuses calls).
 *
 * A node announces each change it commits on the channel (the Reloadable calls back after the write); every
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
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly state: Reloadable,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly opts: RegistrySyncOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.unsubscribe = this.bus.subscribe(this.opts.channel, (e) => {
      if (e.type === 'changed' && e.origin !== this.origin) this.reloadSoon();
    });
    this.state.setAnnouncer(() => this.announce());
    if (this.opts.resyncMs !== undefined) {
      this.resyncTimer = setInterval(() => this.reloadSoon(), this.opts.resyncMs);
      this.resyncTimer.unref();
    }
    // The state was loaded before this subscription, which Redis takes on asynchronously: a change committed
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
    this.state.setAnnouncer(() => {});
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    clearInterval(this.resyncTimer);
    this.resyncTimer = undefined;
    await this.running;
  }

  private announce(): void {
    if (this.stopped) return;
    // Best effort, as the bus is: a node that misses it keeps its old copy until the next change, the next resync
    // (resyncMs) or its restart.
    this.bus
      .publish(this.opts.channel, { type: 'changed', origin: this.origin })
      .catch((err: unknown) =>
        this.logger.warn({ err, channel: this.opts.channel }, `announcing a change of ${this.opts.what} failed`),
      );
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
        await this.state.load();
      } catch (err) {
        // With another announcement already in, the loop tries again at once; otherwise a timer does.
        this.logger.error(
          { err, channel: this.opts.channel },
          `reloading ${this.opts.what} after a change elsewhere failed`,
        );
        if (!this.again && !this.stopped) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.reloadSoon();
          }, this.opts.retryMs ?? RETRY_MS);
          this.retryTimer.unref();
        }
      }
    } while (this.again && !this.stopped);
    this.running = undefined;
  }
}
