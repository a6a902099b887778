/** One Server-Sent Event: the `event:` name (if any) and its joined `data:` lines. */
export interface SseEvent {
  event?: string;
  data: string;
}

/**
 * Parses an SSE byte stream into events as they complete. Works on raw chunks so a provider's stream
 * is forwarded event by event without waiting for more than one event's bytes.
 */
export async function* parseSse(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let sep: number;
    while ((sep = nextBoundary(buf)) >= 0) {
      const block = buf.slice(0, sep);
      buf = buf.slice(sep).replace(/^(\r?\n){1,2}/, '');
      const ev = parseBlock(block);
      if (ev) yield ev;
    }
  }
  buf += decoder.decode();
  const last = parseBlock(buf);
  if (last) yield last;
}

/** Index where the current event block ends (the blank line), or -1. */
function nextBoundary(buf: string): number {
  const a = buf.indexOf('\n\n');
  const b = buf.indexOf('\r\n\r\n');
  if (a < 0) return b;
  if (b < 0) return a;
  return Math.min(a, b);
}

function parseBlock(block: string): SseEvent | undefined {
  let event: string | undefined;
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0 && event === undefined) return undefined;
  return { ...(event !== undefined ? { event } : {}), data: data.join('\n') };
}
