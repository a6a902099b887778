import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A local model server speaking the real OpenAI and Anthropic wire formats (SSE streaming included),
 * scriptable to fail, rate limit or stall. Tests point providers at `url` (OpenAI-compatible kinds use
 * `${url}/v1`, Anthropic uses `url`) and read back what each call sent in `calls`.
 */

export interface FakeToolCall {
  /** Defaults to a generated `call_...` id. */
  id?: string;
  name: string;
  /** JSON text of the arguments (as OpenAI sends it). */
  arguments: string;
}

export interface FakeBehavior {
  /** How many calls this applies to (default 1). */
  times?: number;
  /** Only calls to this path (e.g. `/v1/embeddings`); default every model call (chat, messages, embeddings). */
  path?: string;
  /** Answer with this HTTP status and an error body in the path's wire format. */
  status?: number;
  /** With `status`: the error message. */
  message?: string;
  /** Seconds sent in `Retry-After`. */
  retryAfter?: number;
  /** Wait this long before answering (a stall longer than the client's timeout looks like a hang). */
  stallMs?: number;
  /** Reply text (default: `echo: <last user message>`). */
  text?: string;
  toolCalls?: FakeToolCall[];
  /** Overrides the token counts reported in usage. */
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** Streaming: wait this long between chunks. */
  chunkDelayMs?: number;
  /** Streaming: stop after this many content chunks without finishing (a dropped connection). */
  dropAfterChunks?: number;
}

export interface FakeCall {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  at: number;
}

export interface FakeLlmOptions {
  /** Models listed by `/v1/models`, `/api/tags` and accepted by chat; default a few OpenAI-ish and Claude names. */
  models?: string[];
  /** Reject calls whose model is not in `models` with 404 (default true). */
  strictModels?: boolean;
  /** Embedding dimension when the request gives none (default 8). */
  embeddingDim?: number;
  /** Exact vectors for given inputs; other inputs get hash-based unit vectors. */
  vectors?: Record<string, number[]>;
  /** Require this bearer token / x-api-key; a wrong one answers 401. */
  apiKey?: string;
  /** Default delay between stream chunks (ms). */
  chunkDelayMs?: number;
  port?: number;
  /** Keep every call in `calls` (default true; benchmarks turn it off to keep memory flat). */
  record?: boolean;
}

export interface FakeLlm {
  url: string;
  calls: FakeCall[];
  /** Queues behaviours; each applies to the next `times` matching calls, in order. */
  behave(...next: FakeBehavior[]): void;
  /** Forgets recorded calls and queued behaviours. */
  reset(): void;
  /** Model calls recorded for a path. */
  callsTo(path: string): FakeCall[];
  close(): Promise<void>;
}

const MODEL_PATHS = new Set(['/v1/chat/completions', '/v1/messages', '/v1/embeddings']);
const DEFAULT_MODELS = ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small', 'claude-3-5-haiku-latest', 'llama3.2'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Rough but deterministic token count (about 4 characters a token, at least one per word). */
export function fakeTokens(text: string): number {
  if (!text) return 0;
  const words = text.split(/\s+/).filter(Boolean).length;
  return Math.max(words, Math.ceil(text.length / 4));
}

/** Deterministic unit vector for a text: the same text always gets the same vector. */
export function fakeVector(text: string, dim: number): number[] {
  const out: number[] = [];
  let block = 0;
  while (out.length < dim) {
    const h = createHash('sha256').update(`${block++}:${text}`).digest();
    for (let i = 0; i + 1 < h.length && out.length < dim; i += 2) out.push(h.readUInt16LE(i) / 32768 - 1);
  }
  const norm = Math.sqrt(out.reduce((s, v) => s + v * v, 0)) || 1;
  return out.map((v) => v / norm);
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p: any) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? p.text : '')).join('');
  }
  return '';
}

function promptText(body: any): string {
  const parts: string[] = [];
  if (body?.system) parts.push(contentText(body.system));
  for (const m of Array.isArray(body?.messages) ? body.messages : []) parts.push(contentText(m?.content));
  return parts.join('\n');
}

function lastUserText(body: any): string {
  const msgs = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i]?.role === 'user') return contentText(msgs[i].content);
  return '';
}

/** Splits text into stream pieces of a word (with its trailing space) each. */
function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

export async function startFakeLlm(opts: FakeLlmOptions = {}): Promise<FakeLlm> {
  const models = opts.models ?? DEFAULT_MODELS;
  const strict = opts.strictModels ?? true;
  const calls: FakeCall[] = [];
  let queue: FakeBehavior[] = [];
  const sockets = new Set<Socket>();

  const take = (path: string): FakeBehavior => {
    const i = queue.findIndex((b) => b.path === undefined || b.path === path);
    if (i < 0) return {};
    const b = queue[i]!;
    const left = (b.times ?? 1) - 1;
    if (left <= 0) queue.splice(i, 1);
    else queue[i] = { ...b, times: left };
    return b;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(err), type: 'server_error' } }));
      });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const fail = (res: http.ServerResponse, path: string, status: number, message: string, retryAfter?: number) => {
    const headers: Record<string, string> = retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {};
    if (path === '/v1/messages') {
      const type =
        status === 429
          ? 'rate_limit_error'
          : status === 401
            ? 'authentication_error'
            : status === 404
              ? 'not_found_error'
              : status === 529
                ? 'overloaded_error'
                : status >= 500
                  ? 'api_error'
                  : 'invalid_request_error';
      json(res, status, { type: 'error', error: { type, message } }, headers);
    } else {
      const type = status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error';
      json(res, status, { error: { message, type, param: null, code: type } }, headers);
    }
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    let body: any = undefined;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        return fail(res, path, 400, 'body is not JSON');
      }
    }
    if (opts.record !== false)
      calls.push({ method: req.method ?? 'GET', path, headers: req.headers, body, at: Date.now() });

    if (opts.apiKey !== undefined) {
      const given =
        path === '/v1/messages'
          ? req.headers['x-api-key']
          : /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      if (given !== opts.apiKey) return fail(res, path, 401, 'invalid api key');
    }

    if (req.method === 'GET' && path === '/v1/models') {
      return json(res, 200, {
        object: 'list',
        data: models.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'fake' })),
      });
    }
    if (req.method === 'GET' && path === '/api/tags') {
      return json(res, 200, {
        models: models.map((name) => ({ name, model: name, modified_at: '2026-01-01T00:00:00Z', size: 1 })),
      });
    }
    if (req.method !== 'POST' || !MODEL_PATHS.has(path)) return fail(res, path, 404, `no route ${req.method} ${path}`);

    const b = take(path);
    if (b.stallMs) await sleep(b.stallMs);
    if (res.destroyed) return;
    if (b.status) return fail(res, path, b.status, b.message ?? `scripted failure ${b.status}`, b.retryAfter);
    if (strict && typeof body?.model === 'string' && !models.includes(body.model)) {
      return fail(res, path, 404, `The model \`${body.model}\` does not exist`);
    }

    if (path === '/v1/embeddings') return embeddings(res, body);
    const text = b.text ?? (b.toolCalls ? '' : `echo: ${lastUserText(body)}`);
    const toolCalls = (b.toolCalls ?? []).map((t) => ({ ...t, id: t.id ?? `call_${randomUUID().slice(0, 8)}` }));
    const usage = b.usage ?? {
      prompt_tokens: fakeTokens(promptText(body)),
      completion_tokens: fakeTokens(text) + toolCalls.reduce((s, t) => s + fakeTokens(t.name + t.arguments), 0),
    };
    const delay = b.chunkDelayMs ?? opts.chunkDelayMs ?? 0;
    if (path === '/v1/messages') {
      if (body?.stream) return anthropicStream(res, body, text, toolCalls, usage, delay, b.dropAfterChunks);
      return json(res, 200, anthropicMessage(body, text, toolCalls, usage));
    }
    if (body?.stream) return openaiStream(res, body, text, toolCalls, usage, delay, b.dropAfterChunks);
    return json(res, 200, openaiCompletion(body, text, toolCalls, usage));
  }

  function embeddings(res: http.ServerResponse, body: any): void {
    const inputs: string[] = Array.isArray(body?.input) ? body.input.map(String) : [String(body?.input ?? '')];
    const dim = typeof body?.dimensions === 'number' ? body.dimensions : (opts.embeddingDim ?? 8);
    const data = inputs.map((text, index) => {
      const vec = opts.vectors?.[text] ?? fakeVector(text, dim);
      const embedding =
        body?.encoding_format === 'base64' ? Buffer.from(new Float32Array(vec).buffer).toString('base64') : vec;
      return { object: 'embedding', index, embedding };
    });
    const tokens = inputs.reduce((s, t) => s + fakeTokens(t), 0);
    json(res, 200, {
      object: 'list',
      data,
      model: body?.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }

  function openaiCompletion(
    body: any,
    text: string,
    toolCalls: Required<FakeToolCall>[],
    usage: FakeBehavior['usage'],
  ) {
    return {
      id: `chatcmpl-${randomUUID()}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body?.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: toolCalls.length && !text ? null : text,
            ...(toolCalls.length
              ? {
                  tool_calls: toolCalls.map((t) => ({
                    id: t.id,
                    type: 'function',
                    function: { name: t.name, arguments: t.arguments },
                  })),
                }
              : {}),
          },
          finish_reason: toolCalls.length ? 'tool_calls' : 'stop',
          logprobs: null,
        },
      ],
      usage: { ...usage!, total_tokens: usage!.prompt_tokens + usage!.completion_tokens },
    };
  }

  async function openaiStream(
    res: http.ServerResponse,
    body: any,
    text: string,
    toolCalls: Required<FakeToolCall>[],
    usage: FakeBehavior['usage'],
    delay: number,
    dropAfter?: number,
  ): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const withUsage = body?.stream_options?.include_usage === true;
    const chunk = (delta: object, finish: string | null) =>
      JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model: body?.model,
        choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
        ...(withUsage ? { usage: null } : {}),
      });
    const send = async (data: string) => {
      if (res.destroyed) return;
      res.write(`data: ${data}\n\n`);
      if (delay) await sleep(delay);
    };
    await send(chunk({ role: 'assistant', content: '' }, null));
    let sent = 0;
    for (const p of pieces(text)) {
      if (dropAfter !== undefined && sent >= dropAfter) {
        // Let what was sent reach the client before the connection drops.
        await new Promise<void>((r) => res.write('', () => r()));
        await sleep(20);
        res.destroy();
        return;
      }
      await send(chunk({ content: p }, null));
      sent++;
    }
    for (const [index, t] of toolCalls.entries()) {
      await send(
        chunk({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] }, null),
      );
      const args = t.arguments;
      const half = Math.ceil(args.length / 2);
      for (const part of [args.slice(0, half), args.slice(half)]) {
        if (part) await send(chunk({ tool_calls: [{ index, function: { arguments: part } }] }, null));
      }
    }
    await send(chunk({}, toolCalls.length ? 'tool_calls' : 'stop'));
    if (withUsage) {
      await send(
        JSON.stringify({
          id,
          object: 'chat.completion.chunk',
          created,
          model: body?.model,
          choices: [],
          usage: { ...usage!, total_tokens: usage!.prompt_tokens + usage!.completion_tokens },
        }),
      );
    }
    if (!res.destroyed) res.end('data: [DONE]\n\n');
  }

  function anthropicMessage(
    body: any,
    text: string,
    toolCalls: Required<FakeToolCall>[],
    usage: FakeBehavior['usage'],
  ) {
    const content: object[] = [];
    if (text) content.push({ type: 'text', text });
    for (const t of toolCalls)
      content.push({ type: 'tool_use', id: t.id, name: t.name, input: JSON.parse(t.arguments || '{}') });
    return {
      id: `msg_${randomUUID().replace(/-/g, '')}`,
      type: 'message',
      role: 'assistant',
      model: body?.model,
      content,
      stop_reason: toolCalls.length ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: usage!.prompt_tokens, output_tokens: usage!.completion_tokens },
    };
  }

  async function anthropicStream(
    res: http.ServerResponse,
    body: any,
    text: string,
    toolCalls: Required<FakeToolCall>[],
    usage: FakeBehavior['usage'],
    delay: number,
    dropAfter?: number,
  ): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = async (event: string, data: object) => {
      if (res.destroyed) return;
      res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
      if (delay) await sleep(delay);
    };
    await send('message_start', {
      message: {
        id: `msg_${randomUUID().replace(/-/g, '')}`,
        type: 'message',
        role: 'assistant',
        model: body?.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage!.prompt_tokens, output_tokens: 1 },
      },
    });
    await send('ping', {});
    let index = 0;
    if (text) {
      await send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      let sent = 0;
      for (const p of pieces(text)) {
        if (dropAfter !== undefined && sent >= dropAfter) {
          await new Promise<void>((r) => res.write('', () => r()));
          await sleep(20);
          res.destroy();
          return;
        }
        await send('content_block_delta', { index, delta: { type: 'text_delta', text: p } });
        sent++;
      }
      await send('content_block_stop', { index });
      index++;
    }
    for (const t of toolCalls) {
      await send('content_block_start', {
        index,
        content_block: { type: 'tool_use', id: t.id, name: t.name, input: {} },
      });
      const half = Math.ceil(t.arguments.length / 2);
      for (const part of [t.arguments.slice(0, half), t.arguments.slice(half)]) {
        if (part) await send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } });
      }
      await send('content_block_stop', { index });
      index++;
    }
    await send('message_delta', {
      delta: { stop_reason: toolCalls.length ? 'tool_use' : 'end_turn', stop_sequence: null },
      usage: { output_tokens: usage!.completion_tokens },
    });
    await send('message_stop', {});
    if (!res.destroyed) res.end();
  }

  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    behave: (...next) => {
      queue.push(...next);
    },
    reset: () => {
      calls.length = 0;
      queue = [];
    },
    callsTo: (p) => calls.filter((c) => c.path === p),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
