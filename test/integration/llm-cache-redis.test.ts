import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';
import { testDialects } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const redisUrl = process.env.CLARION_TEST_REDIS_URL;
if (!redisUrl && process.env.CLARION_TEST_REQUIRE_SERVICES === '1') {
  throw new Error('CLARION_TEST_REQUIRE_SERVICES=1 but CLARION_TEST_REDIS_URL is not set');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Two Clarion processes of one deployment (same database, same Redis) share the LLM response cache: an answer
 * one of them got from the provider is a hit on the other.
 */
describe.skipIf(!redisUrl).each(testDialects())('LLM response cache in Redis (%s)', (dialect) => {
  let up: FakeLlm;
  let a: TestServer;
  let b: TestServer;
  let raw: Redis;
  let key: string;
  let provider: string;
  // A prefix of this run alone: nothing collides with other tests (or runs) on the same Redis.
  const prefix = `clarion-test:${randomUUID()}:`;
  const config = {
    llm_autodetect: false,
    redis_url: redisUrl,
    llm_cache_prefix: prefix,
    llm_cache_ttl: '1500ms',
  };

  const chat = (s: TestServer, body: object) => s.request('POST', '/v1/chat/completions', { token: key, body });

  beforeAll(async () => {
    up = await startFakeLlm();
    raw = new Redis(redisUrl!);
    a = await startTestServer({ dialect, config });
    provider = `shared${Math.floor(Math.random() * 1e6)}`;
    const p = await a.request('POST', '/api/v1/providers', {
      token: a.admin.token,
      body: { name: provider, kind: 'openai', base_url: `${up.url}/v1`, models: ['gpt-4o-mini'] },
    });
    expect(p.status, p.text).toBe(201);
    // The second process starts after the provider exists, as a node of a running deployment would.
    b = await startTestServer({ shareDatabaseWith: a, config: { ...config, engine_enabled: false } });
    const k = await a.request('POST', '/api/v1/api-keys', { token: a.admin.token, body: { name: 'shared-cache' } });
    key = k.body.key;
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await up?.close();
    if (raw) {
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length) await raw.del(...keys);
      await raw.quit();
    }
  });

  it('serves a call through the second process from the answer the first one got, until the TTL ends', async () => {
    up.reset();
    const body = { model: `${provider}/gpt-4o-mini`, messages: [{ role: 'user', content: 'shared answer' }] };
    const first = await chat(a, body);
    expect(first.status, first.text).toBe(200);
    expect(first.headers.get('x-clarion-cache')).toBe('miss');

    const second = await chat(b, body);
    expect(second.status, second.text).toBe(200);
    expect(second.headers.get('x-clarion-cache')).toBe('hit');
    expect(second.body).toEqual(first.body);
    expect(up.callsTo('/v1/chat/completions')).toHaveLength(1);
    const usage = await b.request('GET', '/api/v1/usage?limit=1', { token: key });
    expect(usage.body.items[0]).toMatchObject({ cache_hit: true, cost: 0 });

    // Stored as JSON under the prefix, with the TTL given to Redis.
    const stored = await raw.keys(`${prefix}*`);
    expect(stored).toHaveLength(1);
    expect(JSON.parse((await raw.get(stored[0]!))!)).toEqual(first.body);
    const pttl = await raw.pttl(stored[0]!);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(1500);

    // A streamed call is a hit too, replayed as a stream.
    const streamed = await fetch(`${b.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: true }),
    });
    expect(streamed.headers.get('x-clarion-cache')).toBe('hit');
    expect(await streamed.text()).toContain('echo: shared answer');
    expect(up.callsTo('/v1/chat/completions')).toHaveLength(1);

    // Redis expires the entry: the next call goes to the provider again.
    await sleep(Math.max(0, pttl) + 100);
    expect(await raw.exists(stored[0]!)).toBe(0);
    const later = await chat(b, body);
    expect(later.headers.get('x-clarion-cache')).toBe('miss');
    expect(up.callsTo('/v1/chat/completions')).toHaveLength(2);
  });

  it('keeps users apart and honours "cache": false', async () => {
    up.reset();
    const body = { model: `${provider}/gpt-4o-mini`, messages: [{ role: 'user', content: 'per user' }] };
    expect((await chat(a, body)).headers.get('x-clarion-cache')).toBe('miss');
    const other = await a.createUser('operator');
    const theirs = await b.request('POST', '/v1/chat/completions', { token: other.token, body });
    expect(theirs.headers.get('x-clarion-cache')).toBe('miss');
    expect((await chat(b, { ...body, cache: false })).headers.get('x-clarion-cache')).toBe('off');
    expect(up.callsTo('/v1/chat/completions')).toHaveLength(3);
  });

  it('answers from the provider, not with an error, when Redis cannot be reached, and warns once', async () => {
    // Nothing listens on port 1; this process shares the database but not a working Redis.
    const c = await startTestServer({
      shareDatabaseWith: a,
      config: { ...config, redis_url: 'redis://127.0.0.1:1', engine_enabled: false },
    });
    try {
      up.reset();
      const body = { model: `${provider}/gpt-4o-mini`, messages: [{ role: 'user', content: 'no redis' }] };
      for (let i = 0; i < 3; i++) {
        const res = await chat(c, body);
        expect(res.status, res.text).toBe(200);
        expect(res.headers.get('x-clarion-cache')).toBe('miss');
      }
      expect(up.callsTo('/v1/chat/completions')).toHaveLength(3);
      const warnings = c.logs.filter((l) => l.includes('the LLM response cache cannot reach Redis'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('"level":40');
    } finally {
      await c.close();
    }
  });
});
