/**
 * The exact-match answer cache of the LLM layer: in process by default ({@link ResponseCache}), in Redis when
 * `redis_url` is set (`RedisResponseCache`), so the processes of a deployment share their hits. Every
 * implementation passes `response-cache.contract.ts`.
 */
export interface AnswerCache<V> {
  /** False when the configuration turns caching off: callers then skip building keys. */
  readonly enabled: boolean;
  /**
   * True when other processes read the same entries: a key must then not depend on this process' own state
   * (such as a counter of its configuration changes).
   */
  readonly shared: boolean;
  /** The value, or undefined on a miss, an expired entry, or a store that cannot be reached (never throws). */
  get(key: string): V | undefined | Promise<V | undefined>;
  /** Stores a value for the cache's time to live. Best effort: never throws, never waits. */
  set(key: string, value: V): void;
  close(): Promise<void>;
}

/**
 * The in-process cache: a bounded LRU with a time to live. A Map keeps insertion order, so re-inserting on
 * read makes the first key the least recently used.
 */
export class ResponseCache<V> implements AnswerCache<V> {
  readonly shared = false;
  private readonly entries = new Map<string, { value: V; expires: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.maxEntries > 0 && this.ttlMs > 0;
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (e.expires <= this.now()) return undefined;
    this.entries.set(key, e);
    return e.value;
  }

  set(key: string, value: V): void {
    if (!this.enabled) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}
