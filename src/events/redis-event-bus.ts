import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redisClientClass } from '../net/ioredis.js';
import type { BusEvent, EventBus } from './event-bus.js';
import { InProcessEventBus } from './in-process-event-bus.js';

const PREFIX = 'clarion:bus:';

/**
 * The EventBus of multi-node deployments: Redis pub/sub between processes, so a run's events published by a
 * worker reach the SSE and WebSocket subscribers of every API node, and a cancel or approval on an API node
 * wakes the worker holding the run.
 *
 * Subscribers in this process get an event at once (through an in-process bus, as on a single node); other
 * processes get it from Redis, where each node SUBSCRIBEs to a channel while it has subscribers of it. A node
 * ignores its own messages when they come back. Delivery stays best effort, as the interface says: durable
 * history is `run_events`, which readers use to fill any gap.
 *
 * ioredis is loaded when the bus is made (only with `redis_url`): a single-node start does not pay for it.
 * Commands issued before it is loaded are chained on the load, so they keep their order.
 */
export class RedisEventBus implements EventBus {
  private readonly local: InProcessEventBus;
  private readonly conn: Promise<{ pub: Redis; sub: Redis }>;
  private readonly origin = randomUUID();
  private readonly counts = new Map<string, number>();
  private closed = false;
  /** Settles what waits on Redis (ready()) when the bus closes: a command queued while Redis is away never would. */
  private readonly whenClosed: Promise<void>;
  private markClosed: () => void = () => {};

  constructor(
    url: string,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.local = new InProcessEventBus(onError);
    this.whenClosed = new Promise((resolve) => (this.markClosed = resolve));
    this.conn = redisClientClass().then((RedisClient) => {
      // Commands wait in ioredis' offline queue until the connection is up; a lost connection reconnects and
      // re-subscribes by itself.
      const pub = new RedisClient(url, { maxRetriesPerRequest: 3 });
      const sub = new RedisClient(url, { maxRetriesPerRequest: null });
      pub.on('error', (err) => this.onError(err));
      sub.on('error', (err) => this.onError(err));
      sub.on('message', (raw: string, text: string) => this.receive(raw, text));
      return { pub, sub };
    });
    this.conn.catch((err: unknown) => this.onError(err));
  }

  private receive(raw: string, text: string): void {
    if (!raw.startsWith(PREFIX)) return;
    let msg: { o?: string; e?: BusEvent };
    try {
      msg = JSON.parse(text) as { o?: string; e?: BusEvent };
    } catch {
      return;
    }
    if (msg.o === this.origin || !msg.e) return;
    void this.local.publish(raw.slice(PREFIX.length), msg.e);
  }

  async publish(channel: string, event: BusEvent): Promise<void> {
    if (this.closed) return;
    await this.local.publish(channel, event);
    const text = JSON.stringify({ o: this.origin, e: event });
    // Not awaited: the engine publishes each step's events in turn, and waiting for Redis' reply to each would
    // add a round trip per event. One connection sends its commands in order, so the order holds.
    this.conn
      .then(({ pub }) => pub.publish(PREFIX + channel, text))
      // Other nodes miss this one live event; they read it from the store when they next look.
      .catch((err: unknown) => this.onError(err));
  }

  subscribe(channel: string, handler: (event: BusEvent) => void): () => void {
    const off = this.local.subscribe(channel, handler);
    const n = (this.counts.get(channel) ?? 0) + 1;
    this.counts.set(channel, n);
    if (n === 1)
      this.conn.then(({ sub }) => sub.subscribe(PREFIX + channel)).catch((err: unknown) => this.onError(err));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      const left = (this.counts.get(channel) ?? 1) - 1;
      if (left > 0) {
        this.counts.set(channel, left);
        return;
      }
      this.counts.delete(channel);
      if (!this.closed) {
        this.conn.then(({ sub }) => sub.unsubscribe(PREFIX + channel)).catch((err: unknown) => this.onError(err));
      }
    };
  }

  /**
   * Resolves once Redis has confirmed every subscription made so far (tests; RegistrySync re-reads after it —
   * a node never needs to wait for it).
   */
  async ready(): Promise<void> {
    const { sub } = await this.conn;
    await Promise.race([sub.ping().catch(() => {}), this.whenClosed]);
    // A PING on a subscribed connection is answered after the SUBSCRIBEs sent before it.
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.markClosed();
    this.counts.clear();
    await this.local.close();
    const conn = await this.conn.catch(() => undefined);
    if (conn) await Promise.allSettled([endConnection(conn.pub), endConnection(conn.sub)]);
  }
}

/**
 * QUIT when connected (what was sent is flushed first); otherwise drop the connection. A QUIT issued while Redis
 * cannot be reached waits in ioredis' offline queue, forever on the subscriber (it retries without limit), and a
 * node told to stop would hang on it.
 */
async function endConnection(client: Redis): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
