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
 * Two API nodes of one deployment (same PostgreSQL, same Redis): providers, aliases, prices and budgets changed
 * through node A's API take effect on node B without a restart — a new alias routes, a re-pointed alias routes the
 * new way, a new price is listed, a deleted provider is refused, a budget set or lowered refuses the key's calls
 * and one raised or deleted lets them through.
 */
describe.skipIf(!redisUrl || !pgUrl)('LLM configuration and budget changes reach every node (postgres + Redis)', () => {
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

  it('sets, raises, lowers and deletes a budget on A; B applies each', async () => {
    await addFakeProvider(a, up, { name: 'budgeted', models: ['gpt-4o-mini'] });
    const k = await admin(a, 'POST', '/api/v1/api-keys', { name: 'budgeted' });
    expect(k.status, k.text).toBe(201);
    const keyId: string = k.body.api_key.id;
    const chat = () =>
      b.request('POST', '/v1/chat/completions', {
        token: k.body.key,
        body: { model: 'budgeted/gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] },
      });
    const budget = (max_tokens: number) =>
      admin(a, 'PUT', '/api/v1/budgets', { scope: 'api_key', subject_id: keyId, period: 'day', max_tokens });
    const refused = (r: HttpResult) => r.status === 429 && r.body.error?.code === 'BUDGET_EXCEEDED';
    await eventually(chat, (r) => r.status === 200);

    // A budget with nothing left (0 tokens) made on A refuses the key's calls on B.
    let res = await budget(0);
    expect(res.status, res.text).toBe(200);
    const id: string = res.body.id;
    res = await eventually(chat, refused);
    expect(res.headers.get('retry-after')).toBeTruthy();
    res = await admin(b, 'GET', '/api/v1/budgets');
    expect(res.body.items.some((x: { id: string }) => x.id === id)).toBe(true);

    // Raised on A: B answers again; lowered again: B refuses again.
    expect((await budget(1e9)).status).toBe(200);
    await eventually(chat, (r) => r.status === 200);
    expect((await budget(0)).status).toBe(200);
    await eventually(chat, refused);

    // Deleted on A: B answers again.
    res = await admin(a, 'DELETE', `/api/v1/budgets/${id}`);
    expect(res.status, res.text).toBe(204);
    await eventually(chat, (r) => r.status === 200);
    res = await admin(b, 'GET', '/api/v1/budgets');
    expect(res.body.items.some((x: { id: string }) => x.id === id)).toBe(false);
  }, 30_000);
});
