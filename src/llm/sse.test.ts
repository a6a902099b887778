import { describe, expect, it } from 'vitest';
import { parseSse } from './sse.js';

async function* bytes(parts: string[]) {
  for (const p of parts) yield new TextEncoder().encode(p);
}

describe('parseSse', () => {
  it('parses events split anywhere across chunks, with names, comments and CRLF', async () => {
    const parts = [
      'event: a\nda',
      'ta: {"x":1}\n\n: comment\n\ndata: line1\r\ndata: line2\r\n\r\n',
      'data: [DONE]\n\n',
    ];
    const out = [];
    for await (const e of parseSse(bytes(parts))) out.push(e);
    expect(out).toEqual([{ event: 'a', data: '{"x":1}' }, { data: 'line1\nline2' }, { data: '[DONE]' }]);
  });

  it('yields a last event that has no blank line after it', async () => {
    const out = [];
    for await (const e of parseSse(bytes(['data: tail']))) out.push(e);
    expect(out).toEqual([{ data: 'tail' }]);
  });
});
