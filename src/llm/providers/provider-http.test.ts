import http from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeServer, listenLocal } from '../../../test/helpers/local-server.js';
import { LazyAgent } from '../../net/undici.js';
import { ProviderError } from './provider-error.js';
import { parseSse } from '../sse.js';
import { getJson, postJson, postStream, type HttpCallOptions } from './provider-http.js';

/** A provider stand-in whose answer each test sets; it notes what it was sent and when a client went away. */
describe('provider HTTP calls (JSON)', () => {
  let server: http.Server;
  let base: string;
  let answer: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;
  let seen: { method: string; url: string; contentType?: string; body: string }[] = [];
  let clientGone: (() => void) | undefined;
  const dispatcher = new LazyAgent({ keepAliveTimeout: 10_000 });
  const opts = (o: Partial<HttpCallOptions> = {}): HttpCallOptions => ({ dispatcher, timeoutMs: 5000, ...o });

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body });
        res.once('close', () => {
          if (!res.writableFinished) clientGone?.();
        });
        answer(req, res, body);
      });
    });
    base = await listenLocal(server);
  });
  afterAll(async () => {
    await dispatcher.close();
    await closeServer(server);
  });

  const failure = async (p: Promise<unknown>): Promise<ProviderError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  };

  it('posts JSON and reads the JSON answer; a GET sends no body', async () => {
    seen = [];
    answer = (_req, res, body) => res.end(JSON.stringify({ echo: body ? JSON.parse(body) : null }));
    expect(await postJson(`${base}/v1/chat?x=1`, { authorization: 'Bearer k' }, { a: 1 }, opts())).toEqual({
      echo: { a: 1 },
    });
    expect(await getJson(`${base}/v1/models`, {}, opts())).toEqual({ echo: null });
    expect(seen).toEqual([
      { method: 'POST', url: '/v1/chat?x=1', contentType: 'application/json', body: '{"a":1}' },
      { method: 'GET', url: '/v1/models', contentType: undefined, body: '' },
    ]);
  });

  it("turns an error answer into an http error with the provider's message, Retry-After, and the key scrubbed", async () => {
    answer = (_req, res) => {
      res.writeHead(429, { 'retry-after': '3', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'slow down, sk-secret-key-123456' } }));
    };
    const err = await failure(postJson(`${base}/x`, {}, {}, opts({ secret: 'sk-secret-key-123456' })));
    expect(err).toMatchObject({ kind: 'http', status: 429, retryAfterMs: 3000, message: 'slow down, ***' });
  });

  it('reads only the head of a huge error body, without waiting for the rest', async () => {
    answer = (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.write('x'.repeat(200 * 1024)); // and never ends
    };
    const started = performance.now();
    const err = await failure(postJson(`${base}/x`, {}, {}, opts()));
    expect(err).toMatchObject({ kind: 'http', status: 500 });
    expect(err.message).toBe('x'.repeat(200));
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('reports a 200 whose body is not JSON as a protocol error', async () => {
    answer = (_req, res) => res.end('<html>gateway page</html>');
    expect(await failure(getJson(`${base}/x`, {}, opts()))).toMatchObject({ kind: 'protocol' });
  });

  it('times out a provider that does not answer', async () => {
    answer = () => {}; // never answers
    const err = await failure(postJson(`${base}/x`, {}, {}, opts({ timeoutMs: 200 })));
    expect(err.kind).toBe('timeout');
  });

  it('cancels a call in flight through its signal: the provider sees the client go away', async () => {
    answer = () => {};
    const gone = new Promise<void>((resolve) => (clientGone = resolve));
    const ac = new AbortController();
    const call = postJson(`${base}/x`, {}, {}, opts({ signal: ac.signal }));
    setTimeout(() => ac.abort(), 100);
    expect((await failure(call)).kind).toBe('aborted');
    await gone;
  });

  it('makes no request for a call cancelled before it began', async () => {
    seen = [];
    expect((await failure(getJson(`${base}/x`, {}, opts({ signal: AbortSignal.abort() })))).kind).toBe('aborted');
    expect(seen).toEqual([]);
  });

  it('reports a refused connection as a network error', async () => {
    const closed = http.createServer();
    const gone = await listenLocal(closed);
    await closeServer(closed);
    expect((await failure(getJson(`${gone}/x`, {}, opts()))).kind).toBe('network');
  });
});

/** Streams whose reader stops at the provider's last event: the connection is kept, or closed past a limit. */
describe('provider HTTP calls (streams)', () => {
  let server: http.Server;
  let base: string;
  let connections = 0;
  let answer: (res: http.ServerResponse) => void;
  // Each test has a pool of its own, so connections the one before left open are not reused.
  let dispatcher: LazyAgent;
  beforeEach(() => {
    dispatcher = new LazyAgent({ keepAliveTimeout: 10_000 });
    connections = 0;
  });
  afterEach(() => dispatcher.close());

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        answer(res);
      });
    });
    server.on('connection', () => connections++);
    base = await listenLocal(server);
  });
  afterAll(async () => {
    await closeServer(server);
  });

  /** Reads events until `[DONE]`, then stops, as the providers do. */
  const readUntilDone = async (): Promise<string[]> => {
    const events: string[] = [];
    for await (const ev of parseSse(
      await postStream(`${base}/v1/chat/completions`, {}, { stream: true }, { dispatcher, timeoutMs: 5000 }),
    )) {
      if (ev.data === '[DONE]') break;
      events.push(ev.data);
    }
    return events;
  };

  it('keeps the connection when the reader stops at [DONE] before the body has ended', async () => {
    // The end of the body comes after [DONE], as from a provider that writes them separately.
    answer = (res) => {
      res.write('data: {"n":1}\n\ndata: [DONE]\n\n');
      setTimeout(() => res.end(), 20);
    };
    for (let i = 0; i < 3; i++) {
      expect(await readUntilDone()).toEqual(['{"n":1}']);
      // Until the body has ended the connection is busy; after, the next call gets it.
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    expect(connections).toBe(1);
  });

  it('closes the connection instead of reading far past where the reader stopped', async () => {
    let closed!: () => void;
    const serverSawClose = new Promise<void>((resolve) => (closed = resolve));
    // After [DONE], a provider that goes on sending: more than the 16 KB drained, and no end.
    answer = (res) => {
      res.once('close', () => closed());
      res.write('data: {"n":1}\n\ndata: [DONE]\n\n');
      const more = setInterval(() => res.write(`: ${'x'.repeat(8 * 1024)}\n\n`), 5);
      res.once('close', () => clearInterval(more));
    };
    expect(await readUntilDone()).toEqual(['{"n":1}']);
    // Without the limit, this would wait for the body's end, which never comes.
    await serverSawClose;
    answer = (res) => res.end('data: [DONE]\n\n');
    expect(await readUntilDone()).toEqual([]);
  });
});
