import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../helpers/databases.js';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** Provider embeddings through the LLM layer, against a fake OpenAI upstream that returns known vectors. */
describe.each(testDialects())('memory with provider embeddings on %s', (dialect) => {
  let s: TestServer;
  let fake: FakeLlm;
  let token: string;
  const base = '/api/v1/memory/collections';

  beforeAll(async () => {
    fake = await startFakeLlm({
      models: ['text-embedding-3-small'],
      vectors: {
        'PostgreSQL vacuum reclaims dead tuples': [1, 0, 0],
        'Sourdough bread needs a starter': [0, 1, 0],
        'Connection pools reuse database sessions': [0.8, 0.2, 0.1],
        'how do databases clean up?': [0.95, 0.05, 0],
      },
    });
    s = await startTestServer({ dialect });
    const p = await s.request('POST', '/api/v1/providers', {
      token: s.admin.token,
      body: { name: 'emb', kind: 'openai', base_url: `${fake.url}/v1`, models: ['text-embedding-3-small'] },
    });
    expect(p.status, p.text).toBe(201);
    token = (await s.createUser('operator')).token;
    const c = await s.request('POST', base, {
      token,
      body: { name: 'sem', embedding: { embedder: 'provider', model: 'text-embedding-3-small' } },
    });
    expect(c.status, c.text).toBe(201);
    expect(c.body.embedding).toMatchObject({ embedder: 'provider', semantic: true, dimensions: null });
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  it('embeds documents and queries through the provider and ranks by the known vectors', async () => {
    fake.reset();
    const add = await s.request('POST', `${base}/sem/documents`, {
      token,
      body: {
        documents: [
          { id: 'vacuum', content: 'PostgreSQL vacuum reclaims dead tuples' },
          { id: 'bread', content: 'Sourdough bread needs a starter' },
          { id: 'pool', content: 'Connection pools reuse database sessions' },
        ],
      },
    });
    expect(add.status, add.text).toBe(201);
    const calls = fake.callsTo('/v1/embeddings');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.body.input).toEqual([
      'PostgreSQL vacuum reclaims dead tuples',
      'Sourdough bread needs a starter',
      'Connection pools reuse database sessions',
    ]);
    expect((await s.request('GET', `${base}/sem`, { token })).body.embedding.dimensions).toBe(3);

    const r = await s.request('POST', `${base}/sem/query`, {
      token,
      body: { query: 'how do databases clean up?', mode: 'vector', top_k: 3 },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.items.map((h: { id: string }) => h.id)).toEqual(['vacuum', 'pool', 'bread']);
    expect(r.body.items[0].score).toBeCloseTo(0.95 / Math.sqrt(0.95 ** 2 + 0.05 ** 2), 4);
  });

  it('writes nothing when the provider fails', async () => {
    fake.behave({ path: '/v1/embeddings', status: 500, message: 'upstream down', times: 5 });
    const before = (await s.request('GET', `${base}/sem/count`, { token })).body.count;
    const r = await s.request('POST', `${base}/sem/documents`, {
      token,
      body: { documents: [{ id: 'x', content: 'anything' }] },
    });
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect(r.body.error.code).toMatch(/^LLM_|MEMORY_EMBEDDING_FAILED/);
    expect((await s.request('GET', `${base}/sem/count`, { token })).body.count).toBe(before);
    fake.reset();
  });
});
