import { describe, expect, it } from 'vitest';
import { chunkByTokens, mapReduce, type ChatFn } from './context-manager.js';
import type { ChatCompletion } from './llm.js';
import { countTokens } from './tokens.js';

const completion = (content: string): ChatCompletion => ({
  id: 'x',
  object: 'chat.completion',
  created: 0,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
});

describe('chunkByTokens', () => {
  const text = Array.from({ length: 300 }, (_, i) => `Sentence number ${i} talks about topic ${i % 7}.`).join(' ');

  it('keeps every chunk within the limit and covers the whole text', () => {
    const chunks = chunkByTokens(text, { maxTokens: 100, overlap: 0 });
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(countTokens(c)).toBeLessThanOrEqual(100);
    expect(chunks.join('')).toBe(text);
  });

  it('overlaps consecutive chunks and prefers sentence ends', () => {
    const chunks = chunkByTokens(text, { maxTokens: 80, overlap: 20 });
    expect(chunks[0]!.trimEnd().endsWith('.')).toBe(true);
    const tail = chunks[0]!.slice(-30).trim();
    expect(chunks[1]!.includes(tail.slice(-15))).toBe(true);
  });

  it('returns short text whole and rejects bad limits', () => {
    expect(chunkByTokens('short', { maxTokens: 10 })).toEqual(['short']);
    expect(chunkByTokens('', { maxTokens: 10 })).toEqual([]);
    expect(() => chunkByTokens('x', { maxTokens: 10, overlap: 10 })).toThrow(/overlap/);
    expect(() => chunkByTokens('x', { maxTokens: 0 })).toThrow(/maxTokens/);
  });
});

describe('mapReduce', () => {
  it('answers in one call when the input fits', async () => {
    const calls: string[] = [];
    const chat: ChatFn = async (req) => {
      calls.push(String(req.messages[1]!.content));
      return completion('one');
    };
    expect(
      await mapReduce(
        chat,
        { userId: 'u' },
        { model: 'gpt-4o-mini', window: 8192, instruction: 'sum', input: 'small' },
      ),
    ).toBe('one');
    expect(calls).toEqual(['small']);
  });

  it('maps over chunks of an input larger than the window and reduces the answers', async () => {
    const input = Array.from(
      { length: 400 },
      (_, i) => `Line ${i}: the secret code is ${i === 321 ? 'ZEBRA' : 'none'}.`,
    ).join('\n');
    let maps = 0;
    const chat: ChatFn = async (req) => {
      const content = String(req.messages[1]!.content);
      expect(countTokens(content) + countTokens(String(req.messages[0]!.content))).toBeLessThan(1000);
      if (content.startsWith('Combine')) return completion(content.includes('ZEBRA') ? 'The code is ZEBRA' : 'unknown');
      maps++;
      return completion(content.includes('ZEBRA') ? 'ZEBRA' : 'nothing');
    };
    const answer = await mapReduce(
      chat,
      { userId: 'u' },
      {
        model: 'x',
        window: 1000,
        reserve: 200,
        instruction: 'Find the secret code.',
        input,
      },
    );
    expect(answer).toBe('The code is ZEBRA');
    expect(maps).toBeGreaterThan(3);
  });
});
