import { api, ApiError } from './api';

export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/**
 * Reads a Server-Sent Events stream with fetch (so the bearer token goes in a header, not the URL)
 * and resumes with Last-Event-ID after a drop. Resolves when aborted; rejects on a 4xx (e.g. no such route).
 */
export async function readSse(
  path: string,
  onMessage: (m: SseMessage) => void,
  opts: { signal: AbortSignal; onOpen?: () => void; body?: unknown },
): Promise<void> {
  let lastId: string | undefined;
  let attempt = 0;
  while (!opts.signal.aborted) {
    try {
      const token = await api.token();
      const res = await fetch(path, {
        method: opts.body === undefined ? 'GET' : 'POST',
        headers: {
          accept: 'text/event-stream',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(lastId ? { 'last-event-id': lastId } : {}),
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: opts.signal,
      });
      if (!res.ok || !res.body) {
        const e = (await res.json().catch(() => undefined)) as
          { error?: { code: string; message: string } } | undefined;
        throw new ApiError(res.status, e?.error?.code ?? `HTTP_${res.status}`, e?.error?.message ?? res.statusText);
      }
      attempt = 0;
      opts.onOpen?.();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let at: number;
        while ((at = buf.search(/\r?\n\r?\n/)) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + (buf[at] === '\r' ? 4 : 2));
          const m: SseMessage = { data: '' };
          const data: string[] = [];
          for (const line of block.split(/\r?\n/)) {
            if (!line || line.startsWith(':')) continue;
            const i = line.indexOf(':');
            const field = i < 0 ? line : line.slice(0, i);
            const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
            if (field === 'data') data.push(val);
            else if (field === 'event') m.event = val;
            else if (field === 'id') m.id = lastId = val;
          }
          m.data = data.join('\n');
          if (data.length || m.event) onMessage(m);
        }
      }
      // A POST stream (chat) ends when the answer is complete; a GET stream is reopened.
      if (opts.body !== undefined) return;
    } catch (err) {
      if (opts.signal.aborted) return;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
      if (opts.body !== undefined) throw err;
    }
    attempt++;
    await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
  }
}
