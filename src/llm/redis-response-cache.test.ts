import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisResponseCache, type RedisResponseCacheOptions } from './redis-response-cache.js';
import { answerCacheContract } from './response-cache.contract.js';

const url = process.env.CLARION_TEST_REDIS_URL;
if (!url && process.env.CLARION_TEST_REQUIRE_SERVICES === '1') {
  throw new Error('CLARION_TEST_REQUIRE_SERVICES=1 but CLARION_TEST_REDIS_URL is not set');
}

/** Keys of one test run: nothing collides with other runs (or other suites) on the same Redis. */
const prefix = () => `clarion-test:${randomUUID()}:`;

describe.skipIf(!url)('RedisResponseCache', () => {
  answerCacheContract(
    'redis',
    async (o) => new RedisResponseCache(url!, { prefix: prefix(), ttlMs: o.ttlMs, enabled: o.enabled ?? true }),
  );

  let raw: Redis;
  const open: RedisResponseCache<unknown>[] = [];
  const cache = (o: Partial<RedisResponseCacheOptions> & { prefix: string }, at = url!) => {
    const c = new RedisResponseCache<unknown>(at, { ttlMs: 60_000, ...o });
    open.push(c);
    return c;
  };
  beforeAll(() => {
    raw = new Redis(url!);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await raw?.quit();
  });

  it('shares entries between instances: JSON under the prefix, expiring by PX', async () => {
    const p = prefix();
    const a = cache({ prefix: p, ttlMs: 5000 });
    const b = cache({ prefix: p, ttlMs: 5000 });
    expect(a.shared).toBe(true);
    a.set('key1', { answer: 'from a' });
    // The write is not awaited by the caller; the next read on the same connection follows it.
    expect(await a.get('key1')).toEqual({ answer: 'from a' });
    expect(await b.get('key1')).toEqual({ answer: 'from a' });
    expect(JSON.parse((await raw.get(`${p}key1`))!)).toEqual({ answer: 'from a' });
    const pttl = await raw.pttl(`${p}key1`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(5000);
    // Another prefix is another cache.
    expect(await cache({ prefix: prefix() }).get('key1')).toBeUndefined();
  });

  it('does not store a value above the size cap', async () => {
    const p = prefix();
    const c = cache({ prefix: p, maxValueBytes: 100 });
    c.set('small', { t: 'x'.repeat(10) });
    c.set('big', { t: 'x'.repeat(200) });
    // Multi-byte characters count as bytes: 40 characters of 3 bytes each are over 100.
    c.set('wide', { t: '€'.repeat(40) });
    expect(await c.get('small')).toEqual({ t: 'x'.repeat(10) });
    expect(await c.get('big')).toBeUndefined();
    expect(await c.get('wide')).toBeUndefined();
    expect(await raw.exists(`${p}big`, `${p}wide`)).toBe(0);
  });

  it('answers a miss, never an error, when Redis cannot be reached, and warns once per interval', async () => {
    const warnings: unknown[] = [];
    // Nothing listens on port 1.
    const c = cache(
      { prefix: prefix(), warn: (err) => warnings.push(err), warnEveryMs: 60_000 },
      'redis://127.0.0.1:1',
    );
    for (let i = 0; i < 5; i++) {
      c.set(`k${i}`, { i });
      expect(await c.get(`k${i}`)).toBeUndefined();
    }
    expect(warnings).toHaveLength(1);
  });
});
