import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlmService } from '../../src/llm/llm.service.js';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';
import { testDialects } from '../helpers/databases.js';
import { addFakeProvider, startTestServer, type TestServer } from '../helpers/test-server.js';

const CANARY = 'sk-canary-7f3a9c2e5b1d4f6a8c0e';

describe.each(testDialects())('LLM gateway on %s', (dialect) => {
  let s: TestServer;
  let up: FakeLlm;
  let up2: FakeLlm;
  let apiKey: string;
  let apiKeyId: string;
  let n = 0;

  /** A fresh provider per test keeps router state (cooldowns, turns) from leaking between tests. */
  async function provider(fake: FakeLlm, opts: { kind?: string; key?: string; models?: string[] } = {}) {
    const key = opts.key ?? (fake === up ? CANARY : undefined);
    return addFakeProvider(s, fake, { ...opts, name: `p${++n}`, ...(key ? { key } : {}) });
  }

  async function alias(name: string, body: object) {
    const res = await s.request('PUT', `/api/v1/model-aliases/${name}`, { token: s.admin.token, body });
    expect(res.status, res.text).toBe(200);
  }

  const chat = (body: object, token = apiKey, headers: Record<string, string> = {}) =>
    s.request('POST', '/v1/chat/completions', { token, body, headers });

  beforeAll(async () => {
    up = await startFakeLlm({ apiKey: CANARY });
    up2 = await startFakeLlm();
    s = await startTestServer({
      dialect,
      config: {
        llm_autodetect: false,
        llm_retry_base: '5ms',
        llm_max_retries: 1,
        llm_cooldown_failures: 2,
        llm_cooldown: '10m',
        llm_request_timeout: '1500ms',
      },
    });
    const k = await s.request('POST', '/api/v1/api-keys', { token: s.admin.token, body: { name: 'gw' } });
    apiKey = k.body.key;
    apiKeyId = k.body.api_key.id;
  });
  afterAll(async () => {
    await s?.close();
    await up?.close();
    await up2?.close();
  });

  it('answers a chat through a provider with its key, and never returns or logs the key', async () => {
    const p = await provider(up, { key: CANARY });
    const res = await chat({ model: `${p.name}/gpt-4o-mini`, messages: [{ role: 'user', content: 'hello' }] });
    expect(res.status, res.text).toBe(200);
    expect(res.body.choices[0].message.content).toBe('echo: hello');
    expect(res.body.usage.prompt_tokens).toBeGreaterThan(0);
    expect(up.calls.at(-1)?.headers.authorization).toBe(`Bearer ${CANARY}`);
    const listed = await s.request('GET', '/api/v1/providers', { token: s.admin.token });
    expect(listed.body.items.find((x: { name: string }) => x.name === p.name)).toMatchObject({ api_key_set: true });
    const one = await s.request('GET', `/api/v1/providers/${p.id}`, { token: s.admin.token });
    expect(one.text).not.toContain(CANARY);
    // Wrong key upstream: the error must not quote it either.
    const bad = await provider(up, { key: `${CANARY}-wrong` });
    const denied = await chat({ model: `${bad.name}/gpt-4o-mini`, messages: [{ role: 'user', content: 'x' }] });
    expect(denied.status).toBe(502);
    expect(denied.body.error.code).toBe('LLM_UPSTREAM_ERROR');
    for (const text of [...s.responses, ...s.logs]) expect(text).not.toContain(CANARY);
  });

  it('drops a stored key when the provider is moved to another host', async () => {
    const p = await provider(up, { key: CANARY });
    const moved = await s.request('PATCH', `/api/v1/providers/${p.id}`, {
      token: s.admin.token,
      body: { base_url: `${up2.url.replace('127.0.0.1', 'localhost')}/v1` },
    });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body.api_key_set).toBe(false);
    up2.reset();
    await chat({ model: `${p.name}/gpt-4o-mini`, messages: [{ role: 'user', content: 'x' }] });
    expect(up2.calls.at(-1)?.headers.authorization).toBeUndefined();
  });

  it('falls back to the next deployment on errors and maps upstream errors', async () => {
    const a = await provider(up, { key: CANARY });
    const b = await provider(up2);
    await alias('fb', {
      strategy: 'fallback',
      deployments: [
        { provider: a.name, model: 'gpt-4o-mini' },
        { provider: b.name, model: 'gpt-4o' },
      ],
    });
    up.reset();
    up2.reset();
    up.behave({ status: 500, times: 2 });
    const res = await chat({ model: 'fb', messages: [{ role: 'user', content: 'fall' }] });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('x-clarion-provider')).toBe(b.name);
    // One try plus one retry on the first, then the second.
    expect(up.callsTo('/v1/chat/completions')).toHaveLength(2);
    expect(up2.callsTo('/v1/chat/completions')).toHaveLength(1);

    const solo = await provider(up2);
    up2.behave({ status: 503, times: 5 });
    const failed = await chat({ model: `${solo.name}/gpt-4o-mini`, messages: [{ role: 'user', content: 'x' }] });
    expect(failed.status).toBe(502);
    expect(failed.body.error).toMatchObject({ code: 'LLM_UPSTREAM_ERROR', details: { upstream_status: 503 } });
    up2.reset();

    const missing = await chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('MODEL_NOT_FOUND');

    const slow = await provider(up2);
    up2.behave({ stallMs: 2500 });
    const timedOut = await chat({ model: `${slow.name}/gpt-4o-mini`, messages: [{ role: 'user', content: 'x' }] });
    expect(timedOut.status).toBe(504);
    expect(timedOut.body.error.code).toBe('LLM_TIMEOUT');
  });

  it('honours Retry-After on 429 and reports rate limiting when it persists', async () => {
    const p = await provider(up2);
    up2.reset();
    up2.behave({ status: 429, retryAfter: 1 });
    const res = await chat({ model: `${p.name}/gpt-4o-mini`, messages: [{ role: 'user', content: 'wait' }] });
    expect(res.status, res.text).toBe(200);
    const [first, second] = up2.callsTo('/v1/chat/completions');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);

    const q = await provider(up2);
    up2.behave({ status: 429, retryAfter: 60, times: 3 });
    const limited = await chat({ model: `${q.name}/gpt-4o-mini`, messages: [{ role: 'user', content: 'x' }] });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('LLM_RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    up2.reset();
  });

  it('puts a failing deployment in cooldown and skips it', async () => {
    const a = await provider(up);
    const b = await provider(up2);
    await alias('cool', {
      deployments: [
        { provider: a.name, model: 'gpt-4o-mini' },
        { provider: b.name, model: 'gpt-4o-mini' },
      ],
    });
    up.reset();
    up2.reset();
    up.behave({ status: 500, times: 4 });
    // Each call retries once on the first deployment and then falls back; two such calls put it in cooldown.
    for (const c of ['1', '2']) {
      expect((await chat({ model: 'cool', messages: [{ role: 'user', content: c }] })).status).toBe(200);
    }
    for (let i = 0; i < 3; i++) {
      expect((await chat({ model: 'cool', messages: [{ role: 'user', content: `c${i}` }] })).status).toBe(200);
    }
    expect(up.callsTo('/v1/chat/completions')).toHaveLength(4);
    expect(up2.callsTo('/v1/chat/completions')).toHaveLength(5);
  });

  it('spreads load round robin by weight', async () => {
    const a = await provider(up);
    const b = await provider(up2);
    await alias('rr', {
      strategy: 'round_robin',
      deployments: [
        { provider: a.name, model: 'gpt-4o-mini', weight: 1 },
        { provider: b.name, model: 'gpt-4o-mini', weight: 3 },
      ],
    });
    up.reset();
    up2.reset();
    for (let i = 0; i < 8; i++)
      await chat({ model: 'rr', cache: false, messages: [{ role: 'user', content: `r${i}` }] });
    expect(up.callsTo('/v1/chat/completions')).toHaveLength(2);
    expect(up2.callsTo('/v1/chat/completions')).toHaveLength(6);
  });

  it('caches exact repeats per user and marks hits', async () => {
    const p = await provider(up2);
    up2.reset();
    const body = { model: `${p.name}/gpt-4o-mini`, messages: [{ role: 'user', content: 'cache me' }] };
    const first = await chat(body);
    expect(first.headers.get('x-clarion-cache')).toBe('miss');
    const second = await chat(body);
    expect(second.headers.get('x-clarion-cache')).toBe('hit');
    expect(second.body.choices[0].message.content).toBe('echo: cache me');
    expect(up2.callsTo('/v1/chat/completions')).toHaveLength(1);
    const other = await s.createUser('operator');
    expect((await chat(body, other.token)).headers.get('x-clarion-cache')).toBe('miss');
    const usage = await s.request('GET', '/api/v1/usage?limit=5', { token: s.admin.token });
    expect(usage.body.items.some((u: { cache_hit: boolean }) => u.cache_hit)).toBe(true);
    const summary = await s.request('GET', '/api/v1/usage/summary', { token: s.admin.token });
    expect(summary.status, summary.text).toBe(200);
    expect(summary.body.cache_hits).toBeGreaterThanOrEqual(1);
    expect(summary.body.by_model.length).toBeGreaterThan(0);
  });

  it('records usage under time-ordered ids, listed newest first even within one millisecond', async () => {
    const p = await provider(up2);
    for (const n of [1, 2, 3]) {
      const res = await chat({ model: `${p.name}/gpt-4o-mini`, messages: [{ role: 'user', content: `order ${n}` }] });
      expect(res.status).toBe(200);
    }
    const usage = await s.request('GET', '/api/v1/usage?limit=3', { token: s.admin.token });
    const ids = usage.body.items.map((u: { id: string }) => u.id) as string[];
    expect(ids).toHaveLength(3);
    // UUIDv7: version nibble 7, and the newest (listed first) has the greatest id.
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort().reverse()).toEqual(ids);
  });

  it('does not serve a cached answer after the alias it was asked for points elsewhere', async () => {
    const a = await provider(up2);
    const b = await provider(up);
    await alias('cached-alias', { deployments: [{ provider: a.name, model: 'gpt-4o-mini' }] });
    up.reset();
    up2.reset();
    const body = { model: 'cached-alias', messages: [{ role: 'user', content: 'which deployment?' }] };
    expect((await chat(body)).headers.get('x-clarion-cache')).toBe('miss');
    expect((await chat(body)).headers.get('x-clarion-cache')).toBe('hit');
    await alias('cached-alias', { deployments: [{ provider: b.name, model: 'gpt-4o-mini' }] });
    const after = await chat(body);
    expect(after.status, after.text).toBe(200);
    expect(after.headers.get('x-clarion-cache')).toBe('miss');
    expect(up.callsTo('/v1/chat/completions')).toHaveLength(1);
    expect(up2.callsTo('/v1/chat/completions')).toHaveLength(1);
  });

  it('passes a stream through in order, records its real tokens and enforces budgets', async () => {
    const p = await provider(up2);
    const text = 'alpha beta gamma delta epsilon zeta eta theta';
    up2.behave({ text, usage: { prompt_tokens: 40, completion_tokens: 30 } });
    const u = await s.createUser('operator');
    const k = await s.request('POST', '/api/v1/api-keys', { token: u.token, body: { name: 'b' } });
    // The user cannot raise or set their own budget.
    const self = await s.request('PUT', '/api/v1/budgets', {
      token: u.token,
      body: { scope: 'api_key', subject_id: k.body.api_key.id, period: 'day', max_tokens: 1e9 },
    });
    expect(self.status).toBe(403);
    const set = await s.request('PUT', '/api/v1/budgets', {
      token: s.admin.token,
      body: { scope: 'api_key', subject_id: k.body.api_key.id, period: 'day', max_tokens: 60 },
    });
    expect(set.status, set.text).toBe(200);

    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${k.body.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: `${p.name}/gpt-4o-mini`,
        stream: true,
        messages: [{ role: 'user', content: 'go' }],
      }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    // The stream carries what every API answer carries: its request id and the API security headers.
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers.get('x-clarion-provider')).toBe(p.name);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const raw = await res.text();
    const events = raw.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const pieces = events
      .slice(0, -1)
      .map((e) => JSON.parse(e.slice('data: '.length)))
      .map((c) => c.choices[0]?.delta?.content ?? '')
      .join('');
    expect(pieces).toBe(text);
    // The client did not ask for usage: our own usage chunk is not passed on.
    expect(raw).not.toContain('"prompt_tokens"');

    const usage = await s.request('GET', '/api/v1/usage', { token: u.token });
    expect(usage.body.items[0]).toMatchObject({
      stream: true,
      prompt_tokens: 40,
      completion_tokens: 30,
      outcome: 'ok',
    });
    const before = up2.calls.length;
    const over = await s.request('POST', '/v1/chat/completions', {
      token: k.body.key,
      body: { model: `${p.name}/gpt-4o-mini`, messages: [{ role: 'user', content: 'more' }] },
    });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('BUDGET_EXCEEDED');
    expect(over.headers.get('retry-after')).toBeTruthy();
    expect(up2.calls.length).toBe(before);
  });

  it('deletes the budgets on a user and on their keys with the user', async () => {
    const u = await s.createUser('operator');
    const k = await s.request('POST', '/api/v1/api-keys', { token: u.token, body: { name: 'doomed' } });
    for (const [scope, subject_id] of [
      ['user', u.id],
      ['api_key', k.body.api_key.id],
    ]) {
      const put = await s.request('PUT', '/api/v1/budgets', {
        token: s.admin.token,
        body: { scope, subject_id, period: 'day', max_tokens: 1000 },
      });
      expect(put.status, put.text).toBe(200);
    }
    const subjects = async () =>
      (await s.request('GET', '/api/v1/budgets', { token: s.admin.token })).body.items.map(
        (b: { subject_id: string }) => b.subject_id,
      );
    expect(await subjects()).toEqual(expect.arrayContaining([u.id, k.body.api_key.id]));

    expect((await s.request('DELETE', `/api/v1/users/${u.id}`, { token: s.admin.token })).status).toBe(204);
    const left = await subjects();
    expect(left).not.toContain(u.id);
    expect(left).not.toContain(k.body.api_key.id);
    // Gone from the table too, not only from this node's memory.
    const rows = await s.app.database.db
      .selectFrom('budgets')
      .select('id')
      .where('subject_id', 'in', [u.id, k.body.api_key.id])
      .execute();
    expect(rows).toEqual([]);
  });

  it('ends a stream that breaks midway with an error event and records it', async () => {
    const p = await provider(up2);
    up2.behave({ text: 'one two three four five', dropAfterChunks: 2 });
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: `${p.name}/gpt-4o-mini`,
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      }),
    });
    expect(res.status).toBe(200);
    const events = (await res.text()).split('\n\n').filter(Boolean);
    const last = JSON.parse(events.at(-1)!.slice('data: '.length));
    expect(last.error.code).toBe('LLM_UPSTREAM_ERROR');
    expect(events.some((e) => e.includes('"content":"one "'))).toBe(true);
    expect(events).not.toContain('data: [DONE]');
    const usage = await s.request('GET', '/api/v1/usage?limit=1', { token: s.admin.token });
    expect(usage.body.items[0]).toMatchObject({ outcome: 'error', error_code: 'LLM_UPSTREAM_ERROR', stream: true });
  });

  it('enforces a max_tokens ceiling per key', async () => {
    const p = await provider(up2);
    await s.request('PUT', '/api/v1/budgets', {
      token: s.admin.token,
      body: { scope: 'api_key', subject_id: apiKeyId, period: 'month', max_request_tokens: 100 },
    });
    const over = await chat({
      model: `${p.name}/gpt-4o-mini`,
      max_tokens: 500,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe('MAX_TOKENS_EXCEEDED');
    up2.reset();
    const ok = await chat({ model: `${p.name}/gpt-4o-mini`, cache: false, messages: [{ role: 'user', content: 'y' }] });
    expect(ok.status).toBe(200);
    expect(up2.calls.at(-1)?.body.max_tokens).toBe(100);
  });

  it('delegates to a cheaper alias and escalates when the check fails', async () => {
    const cheap = await provider(up);
    const smart = await provider(up2);
    await alias('cheap', { deployments: [{ provider: cheap.name, model: 'gpt-4o-mini' }] });
    await alias('smart', { deployments: [{ provider: smart.name, model: 'gpt-4o' }] });
    up.reset();
    up2.reset();
    up.behave({ text: 'not json at all' });
    up2.behave({ text: '{"ok":true}' });
    const res = await chat({
      model: 'cheap',
      cache: false,
      messages: [{ role: 'user', content: 'json please' }],
      delegate: { try: 'cheap', escalate_to: 'smart', check: 'json' },
    });
    expect(res.body.choices[0].message.content).toBe('{"ok":true}');
    up.behave({ text: 'fine answer' });
    const kept = await chat({
      model: 'cheap',
      cache: false,
      messages: [{ role: 'user', content: 'anything' }],
      delegate: { try: 'cheap', escalate_to: 'smart', check: { cel: 'text.contains("fine")' } },
    });
    expect(kept.body.choices[0].message.content).toBe('fine answer');
    expect(up2.callsTo('/v1/chat/completions')).toHaveLength(1);
  });

  it('translates Anthropic answers, tool calls and streams to the OpenAI shape', async () => {
    const p = await provider(up, { kind: 'anthropic', key: CANARY });
    up.reset();
    up.behave({ toolCalls: [{ name: 'lookup', arguments: '{"q":"x"}' }] });
    const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];
    const res = await chat({
      model: `${p.name}/claude-3-5-haiku-latest`,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'find x' },
      ],
      tools,
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: { tool_calls: [{ type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
    });
    const sent = up.calls.at(-1)!;
    expect(sent.path).toBe('/v1/messages');
    expect(sent.headers['x-api-key']).toBe(CANARY);
    expect(sent.body).toMatchObject({
      system: 'be brief',
      tools: [{ name: 'lookup', input_schema: { type: 'object' } }],
    });

    const client = new OpenAI({ apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: `${p.name}/claude-3-5-haiku-latest`,
      messages: [{ role: 'user', content: 'stream me' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe('echo: stream me');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('works with the official openai client: chat, stream, tools, embeddings, models', async () => {
    const p = await provider(up2);
    await alias('gw-fast', { deployments: [{ provider: p.name, model: 'gpt-4o-mini' }] });
    const client = new OpenAI({ apiKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const whole = await client.chat.completions.create({
      model: 'gw-fast',
      messages: [{ role: 'user', content: 'sdk' }],
    });
    expect(whole.choices[0]?.message.content).toBe('echo: sdk');

    up2.behave({ toolCalls: [{ name: 'get_time', arguments: '{"tz":"UTC"}' }] });
    const runner = client.chat.completions.stream({
      model: 'gw-fast',
      messages: [{ role: 'user', content: 'what time' }],
      tools: [{ type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } }],
    });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]?.message.tool_calls?.[0]).toMatchObject({
      type: 'function',
      function: { name: 'get_time', arguments: '{"tz":"UTC"}' },
    });

    const emb = await client.embeddings.create({ model: `${p.name}/text-embedding-3-small`, input: ['one', 'two'] });
    expect(emb.data).toHaveLength(2);
    expect(emb.data[0]?.embedding).toHaveLength(8);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('gw-fast');

    await expect(
      client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('lists models with health and tests a provider', async () => {
    const p = await provider(up2);
    const ollama = await provider(up2, { kind: 'ollama', models: [] });
    const dead = await s.request('POST', '/api/v1/providers', {
      token: s.admin.token,
      body: { name: `dead${n}`, kind: 'openai', base_url: 'http://127.0.0.1:9/v1', models: ['m1'] },
    });
    const tested = await s.request('POST', `/api/v1/providers/${ollama.id}/test`, { token: s.admin.token });
    expect(tested.body).toMatchObject({ healthy: true, models: expect.arrayContaining(['llama3.2']) });
    expect(up2.calls.some((c) => c.path === '/api/tags')).toBe(true);
    const models = await s.request('GET', '/api/v1/models', { token: s.admin.token });
    expect(models.status).toBe(200);
    expect(models.body.items).toContainEqual(
      expect.objectContaining({ id: `${p.name}/gpt-4o-mini`, healthy: true, context_window: 128000 }),
    );
    expect(models.body.items).toContainEqual(expect.objectContaining({ id: `dead${n}/m1`, healthy: false }));
    // A bare model name a provider reported is routed to it.
    const bare = await chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'local' }] });
    expect(bare.status, bare.text).toBe(200);
    await s.request('DELETE', `/api/v1/providers/${dead.body.id}`, { token: s.admin.token });
  });

  it('offers OPENAI_API_KEY and ANTHROPIC_API_KEY from the environment as read-only providers', async () => {
    const llm = new LlmService({
      db: s.app.database.db,
      config: { ...s.app.config, llm_autodetect: true },
      secrets: s.app.secrets,
      logger: s.app.logger,
      env: {
        OPENAI_API_KEY: CANARY,
        OPENAI_BASE_URL: `${up.url}/v1`,
        ANTHROPIC_API_KEY: CANARY,
        ANTHROPIC_BASE_URL: up.url,
        OLLAMA_HOST: '127.0.0.1:9',
      },
    });
    await llm.start();
    try {
      const listed = llm.registry.listProviders().filter((p) => p.source === 'env');
      expect(listed.map((p) => p.name).sort()).toEqual(['anthropic', 'openai']);
      const answer = await llm.chat(
        { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'env' }] },
        { userId: 'env-user' },
      );
      expect(answer.choices[0]?.message.content).toBe('echo: env');
      expect(up.calls.at(-1)?.headers.authorization).toBe(`Bearer ${CANARY}`);
      await expect(llm.registry.deleteProvider(listed[0]!.id)).rejects.toMatchObject({ code: 'PROVIDER_READ_ONLY' });
    } finally {
      await llm.stop();
    }
  });

  it('refuses the gateway without credentials or llm:use, and hides others usage', async () => {
    expect((await chat({ model: 'x', messages: [{ role: 'user', content: 'x' }] }, '')).status).toBe(401);
    const viewer = await s.createUser('viewer');
    expect((await chat({ model: 'x', messages: [{ role: 'user', content: 'x' }] }, viewer.token)).status).toBe(403);
    const op = await s.createUser('operator');
    expect((await s.request('POST', '/api/v1/providers', { token: op.token, body: {} })).status).toBe(403);
    // A key scoped to the gateway alone sees its own usage but not everyone's.
    const scoped = await s.request('POST', '/api/v1/api-keys', {
      token: op.token,
      body: { name: 'gw-only', scopes: ['llm:use'] },
    });
    expect((await s.request('GET', '/api/v1/usage', { token: scoped.body.key })).status).toBe(200);
    const all = await s.request('GET', '/api/v1/usage?all=true', { token: scoped.body.key });
    expect(all.status).toBe(403);
    const mine = await s.request('GET', '/api/v1/usage?all=true', { token: s.admin.token });
    expect(mine.status).toBe(200);
  });
});
