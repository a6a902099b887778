import { describe, expect, it } from 'vitest';
import { LexicalEmbedder } from './lexical-embedder.js';

const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('LexicalEmbedder', () => {
  const e = new LexicalEmbedder(384);

  it('gives unit vectors of the configured size, the same for the same text', () => {
    const v = e.embedOne('Backups of the SQLite database');
    expect(v).toHaveLength(384);
    expect(cos(v, v)).toBeCloseTo(1, 5);
    expect(Array.from(e.embedOne('Backups of the SQLite database'))).toEqual(Array.from(v));
  });

  it('puts texts that share words closer than texts that do not', () => {
    const q = e.embedOne('sqlite backup');
    const near = e.embedOne('How to back up a SQLite database with the backup API');
    const far = e.embedOne('Sourdough bread needs a starter');
    expect(cos(q, near)).toBeGreaterThan(cos(q, far) + 0.2);
  });

  it('matches word pieces (character trigrams), so plurals and inflections still meet', () => {
    const plural = cos(e.embedOne('databases'), e.embedOne('database'));
    expect(plural).toBeGreaterThan(0.4);
    expect(plural).toBeGreaterThan(cos(e.embedOne('databases'), e.embedOne('sourdough')) + 0.3);
  });

  it('is lexical, not semantic: synonyms without shared letters do not match', () => {
    expect(e.semantic).toBe(false);
    expect(cos(e.embedOne('car'), e.embedOne('automobile'))).toBeLessThan(0.3);
  });

  it('maps empty text to the zero vector', () => {
    expect(e.embedOne('').every((x) => x === 0)).toBe(true);
  });
});
