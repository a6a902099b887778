import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';
import { addFakeProvider, startTestServer, type HttpResult, type TestServer } from '../helpers/test-server.js';

const redisUrl = process.env.CLARION_TEST_REDIS_URL;
const pgUrl = process.env.CLARION_TEST_DATABASE_URL;
if ((!redisUrl || !pgUrl) && process.env.CLARION_TEST_REQUIRE_SERVICES === '1') {
  throw new Error('CLARION_TEST_REQUIRE_SERVICES=1 but CLARION_TEST_REDIS_URL or CLARION_TEST_DATABASE_URL is not set');
}

/** Asks again until `check` accepts the answer; fails with the last answer at the deadline. */
async function eventually(
  ask: () => Promise<HttpResult>,
  check: (res: HttpResult) => boolean,
  ms = 5000,
): Promise<HttpResult> {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await ask();
    if (check(res)) return res;
    if (Date.now() > deadline) throw new Error(`not seen within ${ms} ms; last answer ${res.status} ${res.text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Two API nodes of one deployment (same PostgreSQL, same Redis): providers, aliases and prices changed through
 * node A's API take effect on node B without a restart — a new alias routes, a re-pointed alias routes the new
 * way, a new price is listed, a deleted provider is refused.
 */
describe.skipIf(!redisUrl || !pgUrl)('LLM configuration changes reach every node (postgres + Redis)', () => {
  let up: FakeLlm;
  let up2: FakeLlm;
  let a: TestServer;
  let b: TestServer;
  let key: string;
  // The cache off: every call must be routed by B's registry, not answered from an earlier route.
  const config = { llm_autodetect: false, redis_url: redisUrl, engine_enabled: false, llm_cache_entries: 0 };

  const chatOnB = (model: string) =>
    b.request('POST', '/v1/chat/completions', {
      token: key,
      body: { model, messages: [{ role: 'user', content: 'hello' }] },
    });
  const admin = (s: TestServer, method: string, path: string, body?: object) =>
    s.request(method, path, { token: s.admin.token, ...(body ? { body } : {}) });

  beforeAll(async () => {
    up = await startFakeLlm();
    up2 = await startFakeLlm();
    a = await startTestServer({ dialect: 'postgres', config });
    b = await startTestServer({ shareDatabaseWith: a, config });
    const k = await admin(a, 'POST', '/api/v1/api-keys', { name: 'two-nodes' });
    expect(k.status, k.text).toBe(201);
    key = k.body.key;
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await up?.close();
    await up2?.close();
  });

  it('creates, re-points, prices and deletes on A; B follows each change', async () => {
    expect((await chatOnB('fast')).status).toBe(404);

    const one = await addFakeProvider(a, up, { name: 'one', models: ['gpt-4o-mini'] });
    const two = await addFakeProvider(a, up2, { name: 'two', models: ['gpt-4o-mini'] });
    await eventually(
      () => admin(b, 'GET', '/api/v1/providers'),
      (r) => r.body.items.some((p: { name: string }) => p.name === 'two'),
    );

    // A new alias routes on B.
    let res = await admin(a, 'PUT', '/api/v1/model-aliases/fast', {
      deployments: [{ provider: 'one', model: 'gpt-4o-mini' }],
    });
    expect(res.status, res.text).toBe(200);
    res = await eventually(
      () => chatOnB('fast'),
      (r) => r.status === 200,
    );
    expect(res.headers.get('x-clarion-provider')).toBe('one');

    // The same alias pointed elsewhere routes the new way on B.
    res = await admin(a, 'PUT', '/api/v1/model-aliases/fast', {
      deployments: [{ provider: 'two', model: 'gpt-4o-mini' }],
    });
    expect(res.status, res.text).toBe(200);
    await eventually(
      () => chatOnB('fast'),
      (r) => r.status === 200 && r.headers.get('x-clarion-provider') === 'two',
    );
    expect(up2.callsTo('/v1/chat/completions').length).toBeGreaterThan(0);

    // A new price is B's price.
    res = await admin(a, 'PUT', '/api/v1/model-prices/gpt-4o-mini', { input_per_mtok: 7.25, output_per_mtok: 9.5 });
    expect(res.status, res.text).toBe(200);
    await eventually(
      () => admin(b, 'GET', '/api/v1/model-prices'),
      (r) =>
        r.body.items.some(
          (p: { model: string; input_per_mtok: number; source: string }) =>
            p.model === 'gpt-4o-mini' && p.input_per_mtok === 7.25 && p.source === 'override',
        ),
    );

    // A deleted provider is refused on B (its key must not stay usable there).
    expect((await chatOnB('one/gpt-4o-mini')).status).toBe(200);
    res = await admin(a, 'DELETE', `/api/v1/providers/${one.id}`);
    expect(res.status, res.text).toBe(204);
    res = await eventually(
      () => chatOnB('one/gpt-4o-mini'),
      (r) => r.status === 404,
    );
    expect(res.body.error.code).toBe('MODEL_NOT_FOUND');
    expect((await admin(b, 'GET', `/api/v1/providers/${one.id}`)).status).toBe(404);
    expect((await admin(b, 'GET', `/api/v1/providers/${two.id}`)).status).toBe(200);
  }, 30_000);
});
