import type { Redis } from 'ioredis';
import { redisClientClass } from '../net/ioredis.js';
import type { AnswerCache } from './response-cache.js';

export interface RedisResponseCacheOptions {
  /** Put before every key, so deployments (or tests) sharing one Redis keep apart. */
  prefix: string;
  /** Time to live of an entry (Redis expires it: `SET ... PX`). 0 turns the cache off. */
  ttlMs: number;
  /** False turns the cache off (`llm_cache_entries: 0`). */
  enabled?: boolean;
  /** Values whose JSON is longer are not stored (default 1 MiB). */
  maxValueBytes?: number;
  /** Longest wait for one Redis command before it counts as a miss (default 500 ms). */
  commandTimeoutMs?: number;
  /** Told when Redis cannot be reached, at most once per `warnEveryMs` (default a minute). */
  warn?: (err: unknown) => void;
  warnEveryMs?: number;
  now?: () => number;
}

const MAX_VALUE_BYTES = 1024 * 1024;

/**
 * The answer cache in Redis, shared by every process of a deployment: JSON values under `prefix + key`, expired
 * by Redis itself (`PX`). It never makes a model call fail: while Redis cannot be reached, every read is a miss
 * at once (no waiting on a dead connection) and writes are dropped, and one warning per interval says so.
 *
 * ioredis is loaded when the cache is made (only with `redis_url`; src/net/ioredis.ts). Commands made
 * before the first connection wait for it (bounded by the command timeout); after it, a lost connection makes
 * reads miss until ioredis has reconnected by itself.
 */
export class RedisResponseCache<V> implements AnswerCache<V> {
  readonly shared = true;
  readonly enabled: boolean;
  private readonly conn: Promise<Redis | undefined>;
  private client: Redis | undefined;
  /** Until the first connection succeeds or fails, commands wait in ioredis' queue instead of missing. */
  private connecting = true;
  private lastWarn = -Infinity;
  private readonly maxValueBytes: number;
  private readonly warnEveryMs: number;
  private readonly now: () => number;

  constructor(
    url: string,
    private readonly o: RedisResponseCacheOptions,
  ) {
    this.enabled = (o.enabled ?? true) && o.ttlMs > 0;
    this.maxValueBytes = o.maxValueBytes ?? MAX_VALUE_BYTES;
    this.warnEveryMs = o.warnEveryMs ?? 60_000;
    this.now = o.now ?? Date.now;
    if (!this.enabled) {
      this.conn = Promise.resolve(undefined);
      return;
    }
    this.conn = redisClientClass().then((RedisClient) => {
      const client = new RedisClient(url, {
        commandTimeout: o.commandTimeoutMs ?? 500,
        // A cache can do without Redis: a command is not retried over reconnections.
        maxRetriesPerRequest: 1,
        // Calls in the same tick share one write to the socket.
        enableAutoPipelining: true,
      });
      client.on('ready', () => {
        this.connecting = false;
      });
      client.on('error', (err: unknown) => {
        this.connecting = false;
        this.failed(err);
      });
      this.client = client;
      return client;
    });
    this.conn.catch((err: unknown) => this.failed(err));
  }

  private failed(err: unknown): void {
    const now = this.now();
    if (now - this.lastWarn < this.warnEveryMs) return;
    this.lastWarn = now;
    this.o.warn?.(err);
  }

  /** The client when a command may be sent now; undefined while Redis is known to be unreachable. */
  private async usable(): Promise<Redis | undefined> {
    const c = this.client ?? (await this.conn.catch(() => undefined));
    if (!c) return undefined;
    return c.status === 'ready' || this.connecting ? c : undefined;
  }

  async get(key: string): Promise<V | undefined> {
    if (!this.enabled) return undefined;
    try {
      const c = await this.usable();
      if (!c) return undefined;
      const text = await c.get(this.o.prefix + key);
      return text === null ? undefined : (JSON.parse(text) as V);
    } catch (err) {
      this.failed(err);
      return undefined;
    }
  }

  set(key: string, value: V): void {
    if (!this.enabled) return;
    let text: string;
    try {
      // Serialized now: the caller goes on to use (and may change) the value.
      text = JSON.stringify(value);
    } catch {
      return;
    }
    // A string's byte length is at least its length: only measure bytes when the length allows it.
    if (text.length > this.maxValueBytes || Buffer.byteLength(text) > this.maxValueBytes) return;
    this.usable()
      .then((c) => c?.set(this.o.prefix + key, text, 'PX', this.o.ttlMs))
      .catch((err: unknown) => this.failed(err));
  }

  async close(): Promise<void> {
    const c = await this.conn.catch(() => undefined);
    if (!c) return;
    await c.quit().catch(() => c.disconnect());
  }
}
