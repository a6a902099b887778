import { afterEach, describe, expect, it } from 'vitest';
import { eventBusContract } from './event-bus.contract.js';
import type { BusEvent } from './event-bus.js';
import { RedisEventBus } from './redis-event-bus.js';

const url = process.env.CLARION_TEST_REDIS_URL;
if (!url && process.env.CLARION_TEST_REQUIRE_SERVICES === '1') {
  throw new Error('CLARION_TEST_REQUIRE_SERVICES=1 but CLARION_TEST_REDIS_URL is not set');
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

describe.skipIf(!url)('RedisEventBus', () => {
  eventBusContract('redis', async () => new RedisEventBus(url!));

  const open: RedisEventBus[] = [];
  const node = () => {
    const b = new RedisEventBus(url!);
    open.push(b);
    return b;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });

  it('closes at once when Redis cannot be reached, with subscriptions and a ready() waiting', async () => {
    // Nothing listens on port 1: every command waits in ioredis' offline queue, the subscriber's forever.
    const errors: unknown[] = [];
    const bus = new RedisEventBus('redis://127.0.0.1:1', (err) => errors.push(err));
    bus.subscribe('llm', () => {});
    await bus.publish('llm', { type: 'changed' });
    const ready = bus.ready();
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await bus.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    await ready; // answered (with the connection's end), not left pending
    expect(errors.length).toBeGreaterThan(0);
  });

  it('delivers between nodes, in publish order, once, and only to subscribed channels', async () => {
    const channel = `run:${Math.random().toString(36).slice(2)}`;
    const worker = node();
    const api = node();
    const seen: BusEvent[] = [];
    const mine: BusEvent[] = [];
    const other: BusEvent[] = [];
    api.subscribe(channel, (e) => seen.push(e));
    api.subscribe(`${channel}-other`, (e) => other.push(e));
    worker.subscribe(channel, (e) => mine.push(e));
    await api.ready();
    await worker.ready();
    for (let seq = 1; seq <= 20; seq++) await worker.publish(channel, { seq });
    await until(() => seen.length >= 20);
    expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // The publishing node's own subscriber gets each event once (locally), not again from Redis.
    await new Promise((r) => setTimeout(r, 100));
    expect(mine).toHaveLength(20);
    expect(other).toEqual([]);
  });

  it('stops delivering from other nodes once the last local subscriber leaves', async () => {
    const channel = `c:${Math.random().toString(36).slice(2)}`;
    const a = node();
    const b = node();
    const got: BusEvent[] = [];
    const off1 = b.subscribe(channel, (e) => got.push(e));
    const off2 = b.subscribe(channel, () => {});
    await b.ready();
    await a.publish(channel, { n: 1 });
    await until(() => got.length === 1);
    off2();
    await a.publish(channel, { n: 2 });
    await until(() => got.length === 2);
    off1();
    await b.ready();
    await a.publish(channel, { n: 3 });
    await new Promise((r) => setTimeout(r, 150));
    expect(got).toEqual([{ n: 1 }, { n: 2 }]);
  });
});
