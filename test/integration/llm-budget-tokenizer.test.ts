import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenizerLoaded } from '../../src/llm/tokenizer.js';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';
import { addFakeProvider, startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * A call under a budget reserves an estimate while in flight. The estimate must not need the tokenizer: loading its
 * tables takes 1–2 s on the event loop (every request of the process waits) and ~65 MB. This file runs in its own
 * process, so nothing else has loaded the tokenizer before.
 */
describe('budgeted calls and the tokenizer', () => {
  let s: TestServer;
  let up: FakeLlm;

  beforeAll(async () => {
    up = await startFakeLlm();
    s = await startTestServer({ config: { llm_autodetect: false } });
  });
  afterAll(async () => {
    await s?.close();
    await up?.close();
  });

  it('reserves and settles a budgeted call without loading the tokenizer when the provider reports usage', async () => {
    const p = await addFakeProvider(s, up, { name: 'fake' });
    const u = await s.createUser('operator');
    const k = await s.request('POST', '/api/v1/api-keys', { token: u.token, body: { name: 'k' } });
    expect(k.status, k.text).toBe(201);
    const set = await s.request('PUT', '/api/v1/budgets', {
      token: s.admin.token,
      body: { scope: 'api_key', subject_id: k.body.api_key.id, period: 'day', max_tokens: 100_000, max_cost: 5 },
    });
    expect(set.status, set.text).toBe(200);
    expect(tokenizerLoaded()).toBe(false);

    const body = { model: `${p.name}/gpt-4o-mini`, cache: false, messages: [{ role: 'user', content: 'hello there' }] };
    const chat = await s.request('POST', '/v1/chat/completions', { token: k.body.key, body });
    expect(chat.status, chat.text).toBe(200);
    const streamed = await s.request('POST', '/v1/chat/completions', {
      token: k.body.key,
      body: { ...body, stream: true },
    });
    expect(streamed.status).toBe(200);
    const embedded = await s.request('POST', '/v1/embeddings', {
      token: k.body.key,
      body: { model: `${p.name}/text-embedding-3-small`, input: ['one', 'two'] },
    });
    expect(embedded.status, embedded.text).toBe(200);
    expect(tokenizerLoaded()).toBe(false);

    // The usage was counted from the provider's figures.
    const budgets = await s.request('GET', '/api/v1/budgets', { token: s.admin.token });
    const b = budgets.body.items.find((x: { subject_id: string }) => x.subject_id === k.body.api_key.id);
    expect(b.used_tokens).toBeGreaterThan(0);
  });
});
