import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { AppError } from '../../errors/index.js';
import { undici } from '../../net/undici.js';
import { hostAllowed, isPublicAddress } from './address-policy.js';

export interface GuardedFetchOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  signal?: AbortSignal;
  timeoutMs?: number;
  maxBytes?: number;
  allowPrivate?: boolean;
  allowedHosts?: string[];
  maxRedirects?: number;
}

export interface GuardedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

const blocked = (message: string, details: Record<string, unknown> = {}) =>
  new AppError('OUTBOUND_BLOCKED', message, details);

/** Marks the lookup failure so the caller can tell "refused by policy" from "could not connect". */
class BlockedAddressError extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`${host} resolves to ${address}, a private or reserved address`);
  }
}

/**
 * The DNS hook given to the socket: the addresses checked are exactly the ones connected to,
 * so a name that resolves (or re-resolves) to a private address is refused at connect time.
 */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      if (!allowPrivate) {
        const bad = addresses.find((a) => !isPublicAddress(a.address));
        if (bad) return callback(new BlockedAddressError(hostname, bad.address));
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }));
      return callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}

function checkUrl(url: URL, opts: GuardedFetchOptions): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw blocked(`Only http and https URLs are allowed, not ${url.protocol}`, { url: url.origin });
  }
  if (url.username || url.password) throw blocked('Credentials in the URL are not allowed; use headers.');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (opts.allowedHosts && opts.allowedHosts.length > 0 && !hostAllowed(host, opts.allowedHosts)) {
    throw blocked(`The host ${host} is not in the allowed hosts.`, { host });
  }
  // IP literals skip DNS, so they are checked here (the URL parser has already turned decimal,
  // octal and hex IPv4 forms into dotted quads).
  if (!opts.allowPrivate && /^[\d.]+$|:/.test(host) && !isPublicAddress(host)) {
    throw blocked(`The address ${host} is private, loopback, link-local or reserved.`, { host });
  }
}

function causeChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  let e: unknown = err;
  for (let i = 0; e && i < 6; i++) {
    out.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/**
 * Outbound HTTP for targets and tasks: refuses private addresses (unless allowed) at the socket,
 * re-checks every redirect and refuses redirects to another host, caps time and response size.
 */
export async function guardedFetch(rawUrl: string, opts: GuardedFetchOptions = {}): Promise<GuardedResponse> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw blocked('The URL is not valid.', { field: 'url' });
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxRedirects = opts.maxRedirects ?? 5;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const { Agent, request } = await undici();
  const agent = new Agent({ connect: { lookup: guardedLookup(opts.allowPrivate === true) } });
  const originalHost = url.host;
  let method = (opts.method ?? 'GET').toUpperCase();
  let body = opts.body;
  try {
    for (let hop = 0; ; hop++) {
      checkUrl(url, opts);
      const res = await request(url, {
        dispatcher: agent,
        method: method as 'GET',
        headers: opts.headers ?? {},
        body: body ?? null,
        signal,
      });
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode) && typeof location === 'string') {
        await res.body.dump().catch(() => {});
        if (hop >= maxRedirects) throw new AppError('OUTBOUND_FAILED', `More than ${maxRedirects} redirects.`);
        const next = new URL(location, url);
        if (next.host !== originalHost) {
          throw blocked(`Redirect to another host (${next.host}) refused.`, { host: next.hostname });
        }
        if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
        }
        url = next;
        continue;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          res.body.destroy();
          throw new AppError('OUTBOUND_TOO_LARGE', `The response is larger than ${maxBytes} bytes.`, { maxBytes });
        }
        chunks.push(chunk as Buffer);
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      }
      return { status: res.statusCode, headers, body: Buffer.concat(chunks), url: url.toString() };
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    const chain = causeChain(err);
    const refused = chain.find((e): e is BlockedAddressError => e instanceof BlockedAddressError);
    if (refused) {
      throw blocked(`The host ${refused.host} resolves to a private, loopback or reserved address.`, {
        host: refused.host,
      });
    }
    if (timeout.aborted) throw new AppError('OUTBOUND_TIMEOUT', `No complete answer within ${timeoutMs} ms.`);
    if (opts.signal?.aborted) throw new AppError('OUTBOUND_FAILED', 'The request was cancelled.');
    const code = chain.map((e) => (e as { code?: string }).code).find((c) => typeof c === 'string');
    const message = chain.map((e) => (e as Error).message).find(Boolean) ?? 'unknown error';
    throw new AppError('OUTBOUND_FAILED', `Could not reach ${url.host}: ${code ?? message}.`, {
      host: url.hostname,
      ...(code ? { cause: code } : {}),
    });
  } finally {
    void agent.close().catch(() => {});
  }
}
