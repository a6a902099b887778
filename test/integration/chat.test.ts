import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { countTokens } from '../../src/llm/tokens.js';
import { testDialects } from '../helpers/databases.js';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

interface SseEvent {
  type: string;
  data: any;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((b) => b.trim())
    .map((block) => {
      const type = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(block)?.[1];
      return { type, data: data ? JSON.parse(data) : undefined };
    });
}

const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

describe.each(testDialects())('chat on %s', (dialect) => {
  let s: TestServer;
  let fake: FakeLlm;
  let user: { token: string; id: string };

  beforeAll(async () => {
    fake = await startFakeLlm({ models: ['gpt-4o-mini', 'llama3.2', 'text-embedding-3-small'] });
    s = await startTestServer({ dialect });
    const p = await s.request('POST', '/api/v1/providers', {
      token: s.admin.token,
      body: {
        name: 'fake',
        kind: 'openai',
        base_url: `${fake.url}/v1`,
        models: ['gpt-4o-mini', 'llama3.2', 'text-embedding-3-small'],
      },
    });
    expect(p.status, p.text).toBe(201);
    user = await s.createUser('operator');
    const kb = await s.request('POST', '/api/v1/memory/collections', { token: user.token, body: { name: 'kb' } });
    expect(kb.status).toBe(201);
    await s.request('POST', '/api/v1/memory/collections/kb/documents', {
      token: user.token,
      body: {
        documents: [
          { id: 'vacuum', content: 'PostgreSQL VACUUM reclaims storage occupied by dead tuples.' },
          { id: 'bread', content: 'Sourdough needs a lively starter and a long proof.' },
        ],
      },
    });
    const agent = await s.request('POST', '/api/v1/agents', {
      token: user.token,
      body: { name: 'helper', model: 'gpt-4o-mini', system_prompt: 'You are terse.', memory_collections: ['kb'] },
    });
    expect(agent.status, agent.text).toBe(201);
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  const newConversation = async (body: object, token = user.token) => {
    const r = await s.request('POST', '/api/v1/conversations', { token, body });
    expect(r.status, r.text).toBe(201);
    return r.body.id as string;
  };
  const lastStreamCall = () =>
    fake
      .callsTo('/v1/chat/completions')
      .filter((c) => c.body.stream === true)
      .at(-1)!;

  it('streams an answer in order, cites memory, titles the conversation and keeps history', async () => {
    const id = await newConversation({ agent: 'helper' });
    fake.reset();
    fake.behave({ text: 'VACUUM frees space held by dead tuples [1].' }, { text: 'Postgres vacuum basics' });
    const r = await s.request('POST', `/api/v1/conversations/${id}/messages`, {
      token: user.token,
      body: { content: 'What does VACUUM do in PostgreSQL?' },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(r.headers.get('x-request-id')).toBeTruthy();
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    const events = parseSse(r.text);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('message');
    expect(types[1]).toBe('citations');
    expect(types.slice(-2)).toEqual(['title', 'done']);
    const deltas = events.filter((e) => e.type === 'delta');
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.map((e) => e.data.text).join('')).toBe('VACUUM frees space held by dead tuples [1].');
    const citations = events[1]!.data.citations;
    expect(citations[0]).toMatchObject({ n: 1, document_id: 'vacuum', source_id: null });
    // The model was given the excerpt to cite, after the agent's own prompt.
    const sent = lastStreamCall().body.messages;
    expect(sent[0].role).toBe('system');
    expect(sent[0].content).toMatch(/^You are terse\./);
    expect(sent[0].content).toContain('[1] (vacuum) PostgreSQL VACUUM reclaims storage');
    expect(sent.at(-1)).toEqual({ role: 'user', content: 'What does VACUUM do in PostgreSQL?' });
    expect(events.at(-2)!.data.title).toBe('Postgres vacuum basics');

    const conv = await s.request('GET', `/api/v1/conversations/${id}`, { token: user.token });
    expect(conv.body.title).toBe('Postgres vacuum basics');
    expect(conv.body.messages.map((m: any) => [m.role, m.status])).toEqual([
      ['user', 'complete'],
      ['assistant', 'complete'],
    ]);
    expect(conv.body.messages[1].content).toBe('VACUUM frees space held by dead tuples [1].');
    expect(conv.body.messages[1].citations[0].document_id).toBe('vacuum');
    expect(conv.body.messages[1].usage.completion_tokens).toBeGreaterThan(0);

    // A follow-up carries the history.
    fake.behave({ text: 'Yes.' });
    const again = await s.request('POST', `/api/v1/conversations/${id}/messages`, {
      token: user.token,
      body: { content: 'Does it lock tables?', stream: false },
    });
    expect(again.status).toBe(200);
    expect(again.body.answer).toMatchObject({ role: 'assistant', content: 'Yes.', status: 'complete' });
    const history = lastStreamCall().body.messages.map((m: any) => m.content);
    expect(history.slice(1)).toEqual([
      'What does VACUUM do in PostgreSQL?',
      'VACUUM frees space held by dead tuples [1].',
      'Does it lock tables?',
    ]);

    // Regenerate replaces the last answer.
    fake.behave({ text: 'Only briefly.' });
    const regen = await s.request('POST', `/api/v1/conversations/${id}/regenerate`, {
      token: user.token,
      body: { stream: false },
    });
    expect(regen.status).toBe(200);
    expect(regen.body.answer.content).toBe('Only briefly.');
    const after = await s.request('GET', `/api/v1/conversations/${id}`, { token: user.token });
    expect(after.body.messages.map((m: any) => m.content)).toEqual([
      'What does VACUUM do in PostgreSQL?',
      'VACUUM frees space held by dead tuples [1].',
      'Does it lock tables?',
      'Only briefly.',
    ]);
  });

  it('stops a generation midway, keeping the partial answer, and refuses a second one meanwhile', async () => {
    const id = await newConversation({ model: 'gpt-4o-mini', title: 'stop test' });
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
    fake.behave({ text: words, chunkDelayMs: 20 });
    const res = await fetch(`${s.url}/api/v1/conversations/${id}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'Count for me' }),
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('event: delta')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const busy = await s.request('POST', `/api/v1/conversations/${id}/messages`, {
      token: user.token,
      body: { content: 'me too' },
    });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('CHAT_BUSY');
    const stop = await s.request('POST', `/api/v1/conversations/${id}/stop`, { token: user.token });
    expect(stop.body).toEqual({ stopped: true });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const events = parseSse(text);
    const done = events.at(-1)!;
    expect(done.type).toBe('done');
    expect(done.data.message.status).toBe('stopped');
    const partial = events
      .filter((e) => e.type === 'delta')
      .map((e) => e.data.text)
      .join('');
    expect(done.data.message.content).toBe(partial);
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(words.length);
    const conv = await s.request('GET', `/api/v1/conversations/${id}`, { token: user.token });
    expect(conv.body.messages[1]).toMatchObject({ status: 'stopped', content: partial });
    expect((await s.request('POST', `/api/v1/conversations/${id}/stop`, { token: user.token })).body).toEqual({
      stopped: false,
    });
  });

  it('summarises history that no longer fits the window instead of dropping it', async () => {
    // llama3.2 has no known window here, so the default 8192 tokens applies.
    const id = await newConversation({ model: 'llama3.2', title: 'long' });
    const long = (tag: string) => `${tag} ` + Array.from({ length: 1400 }, (_, i) => `${tag}x${i}`).join(' ');
    fake.behave({ text: `short answer one` });
    expect(
      (
        await s.request('POST', `/api/v1/conversations/${id}/messages`, {
          token: user.token,
          body: { content: long('alpha'), stream: false },
        })
      ).status,
    ).toBe(200);
    fake.reset();
    fake.behave({ text: 'SUMMARY: the user sent a long alpha list.', times: 5, path: '/v1/chat/completions' });
    const r = await s.request('POST', `/api/v1/conversations/${id}/messages`, {
      token: user.token,
      body: { content: long('beta'), stream: false },
    });
    expect(r.status, r.text).toBe(200);
    const summaryCalls = fake.callsTo('/v1/chat/completions').filter((c) => c.body.stream !== true);
    expect(summaryCalls.length).toBeGreaterThan(0);
    expect(summaryCalls[0]!.body.messages[0].content).toMatch(/^Summarise the conversation/);
    expect(summaryCalls.map((c) => c.body.messages[1].content).join('')).toContain('alphax10 ');
    const sent = lastStreamCall().body.messages;
    expect(sent[0].content).toContain(
      'Summary of the earlier conversation:\nSUMMARY: the user sent a long alpha list.',
    );
    expect(JSON.stringify(sent)).not.toContain('alphax10 ');
    expect(sent.at(-1).content).toContain('betax1399');
    const conv = await s.request('GET', `/api/v1/conversations/${id}`, { token: user.token });
    expect(conv.body.summary).toBe('SUMMARY: the user sent a long alpha list.');
    // Summarised messages are still stored and shown.
    expect(conv.body.messages).toHaveLength(4);
  });

  it('passes images to models that accept them and says so to those that do not', async () => {
    const vision = await newConversation({ model: 'gpt-4o-mini', title: 'vision' });
    fake.reset();
    fake.behave({ text: 'A pixel.' });
    const content = [
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: PNG } },
    ];
    const r = await s.request('POST', `/api/v1/conversations/${vision}/messages`, {
      token: user.token,
      body: { content, stream: false },
    });
    expect(r.status, r.text).toBe(200);
    expect(lastStreamCall().body.messages.at(-1)).toEqual({ role: 'user', content });
    expect(r.body.message.parts).toEqual(content);

    const blind = await newConversation({ model: 'llama3.2', title: 'blind' });
    await s.request('POST', `/api/v1/conversations/${blind}/messages`, {
      token: user.token,
      body: { content, stream: false },
    });
    const last = lastStreamCall().body.messages.at(-1);
    expect(typeof last.content).toBe('string');
    expect(last.content).toContain('What is this?');
    expect(last.content).toContain('1 image(s) not shown');

    const bad = await s.request('POST', `/api/v1/conversations/${vision}/messages`, {
      token: user.token,
      body: { content: [{ type: 'image_url', image_url: { url: 'http://169.254.169.254/latest' } }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe('/content/0/image_url/url');
  });

  it('publishes the same events over the WebSocket hub on the user channel', async () => {
    const id = await newConversation({ model: 'gpt-4o-mini', title: 'ws' });
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/ws?token=${user.token}`);
    const got: any[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('message', (raw) => {
        const m = JSON.parse(String(raw));
        if (m.type === 'ready') ws.send(JSON.stringify({ type: 'subscribe', channel: `user:${user.id}` }));
        if (m.type === 'subscribed') resolve();
        if (m.type === 'event') got.push(m.event);
      });
    });
    fake.reset();
    fake.behave({ text: 'over the socket' });
    const r = await s.request('POST', `/api/v1/conversations/${id}/messages`, {
      token: user.token,
      body: { content: 'hello', stream: false },
    });
    expect(r.status).toBe(200);
    for (let i = 0; i < 100 && !got.some((e) => e.type === 'chat.done'); i++)
      await new Promise((res) => setTimeout(res, 20));
    ws.close();
    const mine = got.filter((e) => e.conversation_id === id);
    expect(mine[0].type).toBe('chat.message');
    expect(mine.at(-1).type).toBe('chat.done');
    expect(
      mine
        .filter((e) => e.type === 'chat.delta')
        .map((e) => e.text)
        .join(''),
    ).toBe('over the socket');
    expect(mine.every((e) => e._user === undefined)).toBe(true);
  });

  it('keeps conversations to their owner', async () => {
    const id = await newConversation({ model: 'gpt-4o-mini', title: 'mine' });
    const other = await s.createUser('operator');
    for (const [method, url, body] of [
      ['GET', `/api/v1/conversations/${id}`, undefined],
      ['PATCH', `/api/v1/conversations/${id}`, { title: 'x' }],
      ['POST', `/api/v1/conversations/${id}/messages`, { content: 'hi' }],
      ['POST', `/api/v1/conversations/${id}/regenerate`, {}],
      ['POST', `/api/v1/conversations/${id}/stop`, undefined],
      ['DELETE', `/api/v1/conversations/${id}`, undefined],
    ] as const) {
      const r = await s.request(method, url, { token: other.token, ...(body ? { body } : {}) });
      expect(r.status, `${method} ${url}`).toBe(404);
      expect(r.body.error.code).toBe('CONVERSATION_NOT_FOUND');
    }
    expect((await s.request('GET', '/api/v1/conversations', { token: other.token })).body.items).toEqual([]);
    // Another user's agent cannot be borrowed either.
    const borrowed = await s.request('POST', '/api/v1/conversations', {
      token: other.token,
      body: { agent: 'helper' },
    });
    expect(borrowed.status).toBe(404);
    const viewer = await s.createUser('viewer');
    expect(
      (await s.request('POST', '/api/v1/conversations', { token: viewer.token, body: { model: 'gpt-4o-mini' } }))
        .status,
    ).toBe(403);

    const list = await s.request('GET', '/api/v1/conversations?limit=2', { token: user.token });
    expect(list.body.items[0].id).toBe(id);
    expect(list.body.next_cursor).toBeTruthy();
    expect((await s.request('DELETE', `/api/v1/conversations/${id}`, { token: user.token })).status).toBe(204);
    expect((await s.request('GET', `/api/v1/conversations/${id}`, { token: user.token })).status).toBe(404);
  });

  it('trims history to the context window set over the API, for a model and for an alias of it', async () => {
    // Eight turns of about 210 tokens each, then a question: about 1,900 tokens in all.
    const turn = (tag: string) => Array.from({ length: 50 }, (_, j) => `${tag}w${j}`).join(' ');
    const withHistory = async (model: string) => {
      const id = await newConversation({ model, title: `window ${model}` });
      for (let i = 1; i <= 8; i++) {
        fake.behave({ text: 'noted' });
        const r = await s.request('POST', `/api/v1/conversations/${id}/messages`, {
          token: user.token,
          body: { content: turn(`h${i}`), stream: false },
        });
        expect(r.status, r.text).toBe(200);
      }
      return id;
    };
    // What the upstream was sent, counted as chat counts it (text plus 4 tokens a message).
    const askAndCount = async (id: string) => {
      fake.reset();
      fake.behave({ text: 'SUMMARY of turns.', times: 40, path: '/v1/chat/completions' });
      const r = await s.request('POST', `/api/v1/conversations/${id}/messages`, {
        token: user.token,
        body: { content: turn('q'), stream: false },
      });
      expect(r.status, r.text).toBe(200);
      const sent = lastStreamCall().body.messages as Array<{ content: string }>;
      return { sent, text: JSON.stringify(sent), tokens: sent.reduce((n, m) => n + countTokens(m.content) + 4, 0) };
    };
    const price = (context_window: number) =>
      s.request('PUT', '/api/v1/model-prices/gpt-4o-mini', {
        token: s.admin.token,
        body: { input_per_mtok: 0.15, output_per_mtok: 0.6, context_window },
      });

    try {
      // Built-in window of gpt-4o-mini (128k): the whole history goes up.
      const before = await askAndCount(await withHistory('gpt-4o-mini'));
      expect(before.sent).toHaveLength(17);
      expect(before.text).toContain('h1w0 ');
      expect(before.tokens).toBeGreaterThan(1500);

      // A stored override of 1,500 tokens: the oldest turns are summarised, what is sent fits the window.
      const put = await price(1500);
      expect(put.status, put.text).toBe(200);
      expect(put.body).toMatchObject({ model: 'gpt-4o-mini', context_window: 1500, source: 'override' });
      const after = await askAndCount(await withHistory('gpt-4o-mini'));
      expect(fake.callsTo('/v1/chat/completions').some((c) => c.body.stream !== true)).toBe(true);
      expect(after.sent[0]!.content).toContain('Summary of the earlier conversation:\nSUMMARY of turns.');
      expect(after.text).not.toContain('h1w0 ');
      expect(after.text).toContain('h8w49');
      expect(after.tokens).toBeLessThanOrEqual(1500);

      // An alias takes the smallest window of its deployments, not its first one's: llama3.2 (first, 8,192
      // by default, where this history would fit) and gpt-4o-mini (1,500).
      const alias = await s.request('PUT', '/api/v1/model-aliases/window-test', {
        token: s.admin.token,
        body: {
          deployments: [
            { provider: 'fake', model: 'llama3.2' },
            { provider: 'fake', model: 'gpt-4o-mini' },
          ],
        },
      });
      expect(alias.status, alias.text).toBe(200);
      const viaAlias = await askAndCount(await withHistory('window-test'));
      expect(lastStreamCall().body.model).toBe('llama3.2');
      expect(viaAlias.text).not.toContain('h1w0 ');
      expect(viaAlias.tokens).toBeLessThanOrEqual(1500);
    } finally {
      fake.reset();
      await s.request('DELETE', '/api/v1/model-prices/gpt-4o-mini', { token: s.admin.token });
      await s.request('DELETE', '/api/v1/model-aliases/window-test', { token: s.admin.token });
    }
  });
});
