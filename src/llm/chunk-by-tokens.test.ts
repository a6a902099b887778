import { describe, expect, it } from 'vitest';
import { chunkByTokens } from './context-manager.js';
import { countTokens } from './tokens.js';

describe('chunkByTokens', () => {
  it('keeps a short text whole', () => {
    expect(chunkByTokens('a short text', { maxTokens: 50, overlap: 5 })).toEqual(['a short text']);
  });

  it('cuts long text into windows within the limit that overlap and cover every word', () => {
    const words = Array.from({ length: 600 }, (_, i) => `w${i}`);
    const text = words.join(' ');
    const chunks = chunkByTokens(text, { maxTokens: 64, overlap: 16 });
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(countTokens(c)).toBeLessThanOrEqual(64);
    const seen = new Set(chunks.flatMap((c) => c.split(/\s+/)));
    for (const w of words) expect(seen.has(w)).toBe(true);
    for (let i = 1; i < chunks.length; i++) {
      const firstWord = chunks[i]!.trim().split(' ')[0]!;
      expect(chunks[i - 1]!.split(' ')).toContain(firstWord);
    }
  });

  it('prefers to end a chunk at a sentence', () => {
    const text = Array.from({ length: 40 }, (_, i) => `Sentence ${i} has a few words in it.`).join(' ');
    const chunks = chunkByTokens(text, { maxTokens: 60, overlap: 0 });
    for (const c of chunks.slice(0, -1)) expect(c.endsWith('.')).toBe(true);
  });

  it('refuses an overlap as large as the window', () => {
    expect(() => chunkByTokens('x', { maxTokens: 10, overlap: 10 })).toThrow();
  });
});
