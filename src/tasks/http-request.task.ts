import { Type, type Static } from 'typebox';
import { AppError } from '../errors/index.js';
import { FatalTaskError, RetryLaterError } from '../engine/task-errors.js';
import { guardedFetch } from '../targets/http/guarded-fetch.js';
import type { HttpTargetConfig } from '../targets/target-config.js';
import { targetOf } from './target-task-helpers.js';
import type { TaskDefinition } from './task.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
const MAX_BODY_BYTES_CEILING = 16 * 1024 * 1024;
const ERROR_BODY_CHARS = 500;
const REDACTED = '[redacted]';

/** Headers the transport owns; a step setting them could smuggle a second request or retarget the host. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
]);

const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
const Input = Type.Object(
  {
    method: Type.Optional(
      Type.Union(
        ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'].map((m) => Type.Literal(m)),
        {
          description: 'default GET',
        },
      ),
    ),
    path: Type.Optional(
      Type.String({
        maxLength: 8192,
        description: "joined to the target's base_url; cannot change scheme, host or port",
      }),
    ),
    query: Type.Optional(Type.Record(Type.String({ maxLength: 1024 }), Type.Union([Scalar, Type.Array(Scalar)]))),
    headers: Type.Optional(
      Type.Record(
        Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", maxLength: 256 }),
        Type.String({ maxLength: 8192 }),
        {
          maxProperties: 50,
        },
      ),
    ),
    json: Type.Optional(Type.Unknown({ description: 'a JSON body (sets content-type application/json)' })),
    body: Type.Optional(Type.String({ maxLength: 16 * 1024 * 1024, description: 'a raw text body' })),
    timeout_ms: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 600_000, description: "lowers the target's timeout" }),
    ),
    max_body_bytes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_BODY_BYTES_CEILING,
        description: `response bytes kept in the output (default ${DEFAULT_MAX_BODY_BYTES}); more sets truncated`,
      }),
    ),
    fail_on_status: Type.Optional(Type.Boolean({ description: 'a 4xx/5xx answer fails the step (default true)' })),
  },
  { additionalProperties: false },
);
const Output = Type.Object({
  status: Type.Integer(),
  headers: Type.Record(Type.String(), Type.String()),
  body: Type.Unknown({ description: 'parsed JSON when the answer is JSON, else text' }),
  truncated: Type.Boolean(),
});
type Input = Static<typeof Input>;
type Output = Static<typeof Output>;

/**
 * The request URL: `path` below the base URL's path, on the base URL's origin. Anything that
 * would leave it (another scheme or host, `//host`, `..` in any spelling, a backslash) is refused.
 */
export function joinTargetUrl(baseUrl: string, userPath = '', query: Input['query'] = {}): URL {
  const base = new URL(baseUrl);
  const bad = (why: string) => new AppError('VALIDATION_FAILED', `path ${why}`, { field: 'path' });
  if (/[\\#\0\r\n]/.test(userPath)) throw bad('may not contain a backslash, #, NUL or line break');
  if (/^[a-z][a-z0-9+.-]*:/i.test(userPath) || userPath.startsWith('//')) {
    throw bad("must be relative to the target's base_url (no scheme or host)");
  }
  const [rawPath = '', rawQuery] = userPath.split(/\?(.*)/s, 2);
  const segments = rawPath.split('/');
  if (segments.some((seg) => /^(\.|%2e){1,2}$/i.test(seg))) throw bad('may not contain "." or ".." segments');
  const basePath = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  const url = new URL(base.origin);
  url.pathname = basePath + rawPath.replace(/^\/+/, '');
  url.search = base.search;
  if (rawQuery) for (const [k, v] of new URLSearchParams(rawQuery)) url.searchParams.append(k, v);
  for (const [k, v] of Object.entries(query)) {
    for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(one));
  }
  if (url.origin !== base.origin || !(url.pathname + '/').startsWith(basePath)) {
    throw bad("leaves the target's base_url");
  }
  return url;
}

/** The target's headers and auth (secrets opened), and every secret value to scrub from what is kept. */
function targetHeaders(config: HttpTargetConfig): { headers: Record<string, string>; secrets: string[] } {
  const headers: Record<string, string> = {};
  const secrets: string[] = [];
  for (const [k, v] of Object.entries(config.headers ?? {})) {
    headers[k.toLowerCase()] = v;
    secrets.push(v);
  }
  const auth = config.auth;
  if (auth?.type === 'bearer') {
    headers.authorization = `Bearer ${auth.token}`;
    secrets.push(auth.token);
  } else if (auth?.type === 'basic') {
    const encoded = Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
    headers.authorization = `Basic ${encoded}`;
    secrets.push(auth.password, encoded);
  } else if (auth?.type === 'header') {
    headers[auth.name.toLowerCase()] = auth.value;
    secrets.push(auth.value);
  }
  // Longest first, so a secret containing another is scrubbed whole; tiny values would scrub noise.
  return { headers, secrets: secrets.filter((s) => s.length >= 4).sort((a, b) => b.length - a.length) };
}

const scrub = (text: string, secrets: string[]) => secrets.reduce((t, s) => t.split(s).join(REDACTED), text);

export const httpRequestTask: TaskDefinition<Input, Output> = {
  type: 'http.request',
  description:
    'Call an http target: path joined to its base_url, its headers and auth applied, private addresses refused (unless the target allows them), no redirect to another host, size and time limits.',
  targetTypes: ['http'],
  inputSchema: Input,
  outputSchema: Output,
  estimatedMs: 300,
  run: async (input, ctx) => {
    const target = await targetOf(ctx, 'http');
    const { config } = target;
    if (input.json !== undefined && input.body !== undefined) {
      throw new AppError('VALIDATION_FAILED', 'give either json or body, not both', { field: 'body' });
    }
    const url = joinTargetUrl(config.base_url, input.path, input.query);
    const own = targetHeaders(config);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(input.headers ?? {})) {
      const name = k.toLowerCase();
      if (RESERVED_HEADERS.has(name)) {
        throw new AppError('VALIDATION_FAILED', `the ${name} header is set by the transport`, {
          field: `headers/${k}`,
        });
      }
      headers[name] = v;
    }
    headers['idempotency-key'] = ctx.idempotencyKey;
    let body: string | undefined = input.body;
    if (input.json !== undefined) {
      body = JSON.stringify(input.json);
      headers['content-type'] ??= 'application/json';
    }
    headers.accept ??= 'application/json, text/plain;q=0.9, */*;q=0.8';
    // The target's own headers and auth win over the step's: a step cannot swap the credentials.
    Object.assign(headers, own.headers);
    const targetTimeout = config.timeout_ms ?? DEFAULT_TIMEOUT_MS;
    let res;
    try {
      res = await guardedFetch(url.toString(), {
        method: input.method ?? 'GET',
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: ctx.signal,
        timeoutMs: Math.min(input.timeout_ms ?? targetTimeout, targetTimeout),
        maxBytes: config.max_response_bytes ?? DEFAULT_MAX_RESPONSE_BYTES,
        allowPrivate: config.allow_private === true,
        ...(config.allowed_hosts ? { allowedHosts: config.allowed_hosts } : {}),
      });
    } catch (err) {
      // A bigger answer will not shrink on retry.
      if (err instanceof AppError && err.code === 'OUTBOUND_TOO_LARGE') {
        throw new FatalTaskError(err.message, err.code, err.details);
      }
      throw err;
    }
    const maxBody = input.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES;
    const truncated = res.body.length > maxBody;
    const text = scrub(res.body.subarray(0, maxBody).toString('utf8'), own.secrets);
    const responseHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (k === 'set-cookie') continue; // session material of the target, not data for the run
      responseHeaders[k] = scrub(v, own.secrets);
    }
    if (res.status >= 400 && (input.fail_on_status ?? true)) {
      const details = { status: res.status, body: text.slice(0, ERROR_BODY_CHARS) };
      const message = `${target.name} answered ${res.status}.`;
      const after = responseHeaders['retry-after'];
      if ((res.status === 429 || res.status === 503) && after !== undefined && /^\d+$/.test(after)) {
        throw new RetryLaterError(message, Math.min(Number(after), 3600) * 1000, 'UPSTREAM_HTTP_ERROR');
      }
      if (res.status >= 500 || res.status === 429 || res.status === 408)
        throw new AppError('UPSTREAM_HTTP_ERROR', message, details);
      throw new FatalTaskError(message, 'UPSTREAM_HTTP_ERROR', details);
    }
    const isJson = /^application\/([\w.+-]*\+)?json\b/i.test(res.headers['content-type'] ?? '');
    let parsed: unknown = text;
    if (isJson && !truncated && text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, headers: responseHeaders, body: parsed, truncated };
  },
};
