import type { Dispatcher } from 'undici';
import { undici, type DispatcherSource } from '../../net/undici.js';
import { ProviderError, parseRetryAfter } from './provider-error.js';
import type { CancelSignal } from '../call-cancel.js';

export interface HttpCallOptions {
  dispatcher: DispatcherSource;
  timeoutMs: number;
  signal?: CancelSignal;
  /** The provider key: replaced by `***` in any message that quotes it. */
  secret?: string;
}

const MAX_ERROR_BODY = 64 * 1024;

/** Removes the key from upstream text (some providers echo a part of it in 401 messages). */
export function scrub(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4) return text;
  let out = text.split(secret).join('***');
  // Providers also quote a key's tail ("...abcd"); keep no 8+ character run of it.
  if (secret.length >= 12) out = out.split(secret.slice(-8)).join('***');
  return out;
}

function classify(err: unknown, secret: string | undefined): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED')
    return new ProviderError('aborted', 'the call was cancelled');
  // undici's error codes (stable API), so classifying never needs undici itself loaded.
  if (
    e.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e.code === 'UND_ERR_BODY_TIMEOUT' ||
    e.code === 'UND_ERR_CONNECT_TIMEOUT' ||
    e.name === 'TimeoutError'
  ) {
    return new ProviderError('timeout', 'the provider did not answer in time');
  }
  return new ProviderError('network', scrub(e.message ?? String(err), secret));
}

/** Reads the provider's error message from its JSON body (OpenAI and Anthropic both use `error.message`). */
function errorMessage(status: number, text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    const m = typeof j.error === 'string' ? j.error : (j.error?.message ?? j.message);
    if (m) return m.slice(0, 500);
  } catch {
    // not JSON
  }
  return text ? text.slice(0, 200) : `HTTP ${status}`;
}

async function send(
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: unknown,
  o: HttpCallOptions,
): Promise<Dispatcher.ResponseData> {
  let res: Dispatcher.ResponseData;
  try {
    const { request } = await undici();
    res = await request(url, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      dispatcher: await o.dispatcher.get(),
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      // undici's request() never follows redirects, so the key only ever reaches the provider's own host.
      // undici's `signal` takes any object with addEventListener, aborted and reason (a CallCancel too).
      ...(o.signal ? { signal: o.signal as AbortSignal } : {}),
    });
  } catch (err) {
    throw classify(err, o.secret);
  }
  if (res.statusCode >= 300) {
    let text = '';
    try {
      for await (const chunk of res.body) {
        text += String(chunk);
        if (text.length > MAX_ERROR_BODY) break;
      }
    } catch {
      // the body is only for the message
    }
    res.body.destroy();
    throw new ProviderError(
      'http',
      scrub(errorMessage(res.statusCode, text), o.secret),
      res.statusCode,
      parseRetryAfter(res.headers['retry-after']),
    );
  }
  return res;
}

export async function postJson<T>(
  url: string,
  headers: Record<string, string>,
  body: unknown,
  o: HttpCallOptions,
): Promise<T> {
  const res = await send(url, 'POST', headers, body, o);
  try {
    return (await res.body.json()) as T;
  } catch (err) {
    const c = classify(err, o.secret);
    throw c.kind === 'network' ? new ProviderError('protocol', 'the provider sent a body that is not JSON') : c;
  }
}

export async function getJson<T>(url: string, headers: Record<string, string>, o: HttpCallOptions): Promise<T> {
  const res = await send(url, 'GET', headers, undefined, o);
  try {
    return (await res.body.json()) as T;
  } catch (err) {
    const c = classify(err, o.secret);
    throw c.kind === 'network' ? new ProviderError('protocol', 'the provider sent a body that is not JSON') : c;
  }
}

/** Bytes past the point where a caller stopped reading a stream that are still read, to keep the connection. */
const DRAIN_LIMIT = 16 * 1024;

/**
 * Opens a streamed POST; resolves once the provider accepted (2xx) so the router can still fall back.
 *
 * A caller that stops reading before the body ends (after a provider's last event, `[DONE]` or `message_stop`,
 * whose end of body is usually already received or on its way) does not destroy the body: Node's iterator would
 * make an AbortError with a stack trace for it on every stream, and a body destroyed before its end closes the
 * connection. What is left is read instead (up to DRAIN_LIMIT bytes more, else the body is destroyed), and the
 * connection goes back to the pool. A cancelled call's body was already destroyed by its signal.
 */
export async function postStream(
  url: string,
  headers: Record<string, string>,
  body: unknown,
  o: HttpCallOptions,
): Promise<AsyncIterable<Uint8Array>> {
  const res = await send(url, 'POST', { accept: 'text/event-stream', ...headers }, body, o);
  const stream = res.body;
  const secret = o.secret;
  return {
    async *[Symbol.asyncIterator]() {
      let read = 0;
      let ended = false;
      try {
        for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
          read += (chunk as Uint8Array).length;
          yield chunk as Uint8Array;
        }
        ended = true;
      } catch (err) {
        throw classify(err, secret);
      } finally {
        if (!ended) stream.dump({ limit: read + DRAIN_LIMIT }).catch(() => {});
      }
    },
  };
}
