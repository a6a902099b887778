import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';
import { testDialects } from '../helpers/databases.js';
import { addFakeProvider, startTestServer, type TestServer } from '../helpers/test-server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Budgets counting calls in flight, and the Idempotency-Key sent upstream. */
describe.each(testDialects())('LLM gateway: calls in flight on %s', (dialect) => {
  let s: TestServer;
  let up: FakeLlm;
  let up2: FakeLlm;
  let n = 0;

  async function provider(fake: FakeLlm, kind = 'openai') {
    return (await addFakeProvider(s, fake, { name: `f${++n}`, kind })).name;
  }

  /** An API key of a new operator, with a daily budget set by the admin. */
  async function keyWithBudget(budget: { max_tokens?: number; max_cost?: number }) {
    const u = await s.createUser('operator');
    const k = await s.request('POST', '/api/v1/api-keys', { token: u.token, body: { name: 'burst' } });
    expect(k.status, k.text).toBe(201);
    const set = await s.request('PUT', '/api/v1/budgets', {
      token: s.admin.token,
      body: { scope: 'api_key', subject_id: k.body.api_key.id, period: 'day', ...budget },
    });
    expect(set.status, set.text).toBe(200);
    return { key: k.body.key as string, id: k.body.api_key.id as string };
  }

  async function budgetOf(keyId: string) {
    const res = await s.request('GET', '/api/v1/budgets', { token: s.admin.token });
    expect(res.status, res.text).toBe(200);
    return res.body.items.find((b: { subject_id: string }) => b.subject_id === keyId);
  }

  /** Polls until the key's budget holds no reservation (a call ends a moment after its client saw the end). */
  async function untilReleased(keyId: string) {
    const end = Date.now() + 5000;
    let b = await budgetOf(keyId);
    while (b.reserved_tokens !== 0 && Date.now() < end) {
      await sleep(25);
      b = await budgetOf(keyId);
    }
    return b;
  }

  const chat = (key: string, body: object, headers: Record<string, string> = {}) =>
    s.request('POST', '/v1/chat/completions', { token: key, body, headers });

  beforeAll(async () => {
    up = await startFakeLlm();
    up2 = await startFakeLlm();
    s = await startTestServer({
      dialect,
      config: { llm_autodetect: false, llm_retry_base: '5ms', llm_max_retries: 1, llm_request_timeout: '5s' },
    });
  });
  afterAll(async () => {
    await s?.close();
    await up?.close();
    await up2?.close();
  });

  it('admits only the concurrent calls that fit the token budget, and releases their reservations', async () => {
    const p = await provider(up);
    // Each call reserves its prompt (a handful of tokens) plus max_tokens 100: two fit under 200, a third does not.
    const { key, id } = await keyWithBudget({ max_tokens: 200 });
    const body = {
      model: `${p}/gpt-4o-mini`,
      max_tokens: 100,
      cache: false,
      messages: [{ role: 'user', content: 'hi' }],
    };
    up.reset();
    up.behave({ stallMs: 1500, times: 5, usage: { prompt_tokens: 1, completion_tokens: 1 } });
    let refused = 0;
    const calls = Array.from({ length: 5 }, () =>
      chat(key, body).then((r) => {
        if (r.status === 429) refused++;
        return r;
      }),
    );
    // The refused calls answer at once; the admitted ones are still waiting on the upstream meanwhile.
    const until = Date.now() + 1000;
    while (refused < 3 && Date.now() < until) await sleep(10);
    const during = await budgetOf(id);
    const results = await Promise.all(calls);
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 429, 429, 429]);
    for (const r of results.filter((x) => x.status === 429)) {
      expect(r.body.error).toMatchObject({ code: 'BUDGET_EXCEEDED', details: { used_tokens: 0 } });
      expect(r.body.error.details.reserved_tokens).toBeGreaterThanOrEqual(200);
      expect(r.headers.get('retry-after')).toBeTruthy();
    }
    expect(up.callsTo('/v1/chat/completions')).toHaveLength(2);
    expect(during.reserved_tokens).toBeGreaterThan(200);

    // Both ended: their reservations are gone and only what they used (2 tokens each) counts.
    const after = await untilReleased(id);
    expect(after).toMatchObject({ used_tokens: 4, reserved_tokens: 0 });
    up.behave({ stallMs: 200, times: 2, usage: { prompt_tokens: 1, completion_tokens: 1 } });
    const again = await Promise.all([chat(key, body), chat(key, body)]);
    expect(again.map((r) => r.status)).toEqual([200, 200]);
    expect((await untilReleased(id)).reserved_tokens).toBe(0);
  });

  it('counts calls in flight against a cost budget', async () => {
    const p = await provider(up);
    // gpt-4o-mini: $0.6 per million completion tokens; 100_000 max_tokens reserve about $0.06 each.
    const { key, id } = await keyWithBudget({ max_cost: 0.1 });
    const body = {
      model: `${p}/gpt-4o-mini`,
      max_tokens: 100_000,
      cache: false,
      messages: [{ role: 'user', content: 'cost' }],
    };
    up.reset();
    up.behave({ stallMs: 400, times: 3, usage: { prompt_tokens: 1, completion_tokens: 1 } });
    const results = await Promise.all([chat(key, body), chat(key, body), chat(key, body)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 429]);
    expect(results.find((r) => r.status === 429)!.body.error.code).toBe('BUDGET_EXCEEDED');
    expect(up.callsTo('/v1/chat/completions')).toHaveLength(2);
    expect((await untilReleased(id)).reserved_cost).toBe(0);
    up.reset();
  });

  it('releases the reservation of a call that fails, a stream that breaks, and a stream the client aborts', async () => {
    const p = await provider(up);
    const { key, id } = await keyWithBudget({ max_tokens: 1000 });
    const body = {
      model: `${p}/gpt-4o-mini`,
      max_tokens: 100,
      cache: false,
      messages: [{ role: 'user', content: 'x' }],
    };
    up.reset();

    up.behave({ status: 500, times: 2 });
    const failed = await chat(key, body);
    expect(failed.status).toBe(502);
    expect((await untilReleased(id)).reserved_tokens).toBe(0);

    up.behave({ text: 'one two three four five', dropAfterChunks: 2 });
    const broken = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: true }),
    });
    expect(broken.status).toBe(200);
    expect(await broken.text()).toContain('LLM_UPSTREAM_ERROR');
    expect((await untilReleased(id)).reserved_tokens).toBe(0);

    up.behave({ text: 'a slow answer of many words that takes its time', chunkDelayMs: 300 });
    const ac = new AbortController();
    const slow = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: true }),
      signal: ac.signal,
    });
    const reader = slow.body!.getReader();
    await reader.read();
    expect((await budgetOf(id)).reserved_tokens).toBeGreaterThan(100);
    ac.abort();
    await reader.read().catch(() => {});
    expect((await untilReleased(id)).reserved_tokens).toBe(0);
    const usage = await s.request('GET', '/api/v1/usage?limit=3&all=true', { token: s.admin.token });
    // The client went away: the call is recorded as cancelled, not as an upstream error.
    expect(usage.body.items[0]).toMatchObject({ stream: true, outcome: 'cancelled', error_code: null });
    expect(usage.body.items[1]).toMatchObject({ stream: true, outcome: 'error', error_code: 'LLM_UPSTREAM_ERROR' });
  });

  it('cuts the upstream call short when the client of a plain call goes away, and records it as cancelled', async () => {
    const p = await provider(up);
    const { key, id } = await keyWithBudget({ max_tokens: 1000 });
    up.reset();
    up.behave({ stallMs: 3000, times: 1 });
    const ac = new AbortController();
    const call = fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: `${p}/gpt-4o-mini`, max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }),
      signal: ac.signal,
    });
    await sleep(300);
    expect((await budgetOf(id)).reserved_tokens).toBeGreaterThan(100);
    const abortedAt = Date.now();
    ac.abort();
    await call.catch(() => {});
    // Released long before the upstream would have answered: the provider call was aborted, not waited for.
    expect((await untilReleased(id)).reserved_tokens).toBe(0);
    expect(Date.now() - abortedAt).toBeLessThan(2000);
    const usage = await s.request('GET', '/api/v1/usage?limit=1&all=true', { token: s.admin.token });
    expect(usage.body.items[0]).toMatchObject({ stream: false, outcome: 'cancelled', error_code: null });
    expect(usage.body.items[0].latency_ms).toBeLessThan(2000);
  });

  it('sends the Idempotency-Key upstream: the same on retries and fallbacks, to OpenAI and Anthropic', async () => {
    const a = await provider(up);
    const b = await provider(up2);
    const alias = `idem${n}`;
    const put = await s.request('PUT', `/api/v1/model-aliases/${alias}`, {
      token: s.admin.token,
      body: {
        deployments: [
          { provider: a, model: 'gpt-4o-mini' },
          { provider: b, model: 'gpt-4o-mini' },
        ],
      },
    });
    expect(put.status, put.text).toBe(200);
    const token = s.admin.token;
    up.reset();
    up2.reset();
    // The first deployment fails its try and its retry; the second answers.
    up.behave({ status: 500, times: 2 });
    const res = await chat(
      token,
      { model: alias, cache: false, messages: [{ role: 'user', content: 'once' }] },
      {
        'Idempotency-Key': 'order-4711:step-1',
      },
    );
    expect(res.status, res.text).toBe(200);
    const sent = [...up.callsTo('/v1/chat/completions'), ...up2.callsTo('/v1/chat/completions')];
    expect(sent).toHaveLength(3);
    for (const c of sent) expect(c.headers['idempotency-key']).toBe('order-4711:step-1');

    // Streamed, and without the header: none is made up.
    up.reset();
    const stream = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'k-stream' },
      body: JSON.stringify({ model: `${a}/gpt-4o-mini`, stream: true, messages: [{ role: 'user', content: 's' }] }),
    });
    expect(await stream.text()).toContain('[DONE]');
    expect(up.calls.at(-1)!.headers['idempotency-key']).toBe('k-stream');
    await chat(token, { model: `${a}/gpt-4o-mini`, cache: false, messages: [{ role: 'user', content: 'none' }] });
    expect(up.calls.at(-1)!.headers['idempotency-key']).toBeUndefined();

    // Anthropic, whole and streamed; embeddings too.
    const c = await provider(up, 'anthropic');
    const claude = { model: `${c}/claude-3-5-haiku-latest`, cache: false, messages: [{ role: 'user', content: 'c' }] };
    expect((await chat(token, claude, { 'idempotency-key': 'k-claude' })).status).toBe(200);
    expect(up.calls.at(-1)).toMatchObject({ path: '/v1/messages', headers: { 'idempotency-key': 'k-claude' } });
    const claudeStream = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'k-cs' },
      body: JSON.stringify({ ...claude, stream: true }),
    });
    expect(await claudeStream.text()).toContain('[DONE]');
    expect(up.calls.at(-1)).toMatchObject({ path: '/v1/messages', headers: { 'idempotency-key': 'k-cs' } });
    const emb = await s.request('POST', '/v1/embeddings', {
      token,
      body: { model: `${a}/text-embedding-3-small`, input: 'e' },
      headers: { 'idempotency-key': 'k-emb' },
    });
    expect(emb.status, emb.text).toBe(200);
    expect(up.calls.at(-1)).toMatchObject({ path: '/v1/embeddings', headers: { 'idempotency-key': 'k-emb' } });
  });

  it('refuses a malformed Idempotency-Key with 400 naming the header, before any provider is called', async () => {
    const a = await provider(up);
    up.reset();
    const body = { model: `${a}/gpt-4o-mini`, messages: [{ role: 'user', content: 'x' }] };
    for (const bad of ['k'.repeat(201), 'caf\u00e9', 'tab\there', '']) {
      const res = await chat(s.admin.token, body, { 'idempotency-key': bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { field: 'headers/idempotency-key' },
      });
    }
    const emb = await s.request('POST', '/v1/embeddings', {
      token: s.admin.token,
      body: { model: `${a}/text-embedding-3-small`, input: 'e' },
      headers: { 'idempotency-key': 'x'.repeat(300) },
    });
    expect(emb.status).toBe(400);
    expect(emb.body.error.details.field).toBe('headers/idempotency-key');
    expect(up.calls).toHaveLength(0);
    // At the limit, printable ASCII with spaces and punctuation passes.
    const ok = await chat(s.admin.token, body, { 'idempotency-key': `a b:c/${'d'.repeat(194)}` });
    expect(ok.status, ok.text).toBe(200);
  });
});
