import type { EmbedContext, Embedder } from './embedder.js';
import { normalize } from './embedder.js';

/**
 * The built-in offline embedder: hashed word, word-pair and character-trigram features (the hashing trick)
 * with log term frequency, signed to cancel collisions, L2-normalised. It needs no provider and no download,
 * so memory works on a fresh machine — but it is LEXICAL, not semantic: texts are close when they share
 * words or word pieces, not when they mean the same thing.
 */
export class LexicalEmbedder implements Embedder {
  readonly kind = 'lexical';
  readonly semantic = false;

  constructor(readonly dimensions: number) {
    if (!Number.isInteger(dimensions) || dimensions < 16 || dimensions > 8192) {
      throw new Error('lexical embedder dimensions must be an integer from 16 to 8192');
    }
  }

  async embed(texts: string[], _ctx?: EmbedContext): Promise<Float32Array[]> {
    return texts.map((t) => this.embedOne(t));
  }

  embedOne(text: string): Float32Array {
    const counts = new Map<string, number>();
    const add = (feature: string, weight: number) => counts.set(feature, (counts.get(feature) ?? 0) + weight);
    const words = lexicalTokens(text);
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      add(`w:${w}`, 1);
      if (i + 1 < words.length) add(`b:${w} ${words[i + 1]}`, 0.5);
      const padded = `^${w}$`;
      if (padded.length > 4) for (let j = 0; j + 3 <= padded.length; j++) add(`c:${padded.slice(j, j + 3)}`, 0.25);
    }
    const v = new Float32Array(this.dimensions);
    for (const [feature, count] of counts) {
      const h = fnv1a(feature);
      const index = h % this.dimensions;
      const sign = (h >>> 31) & 1 ? -1 : 1;
      v[index]! += sign * (1 + Math.log(count));
    }
    return normalize(v);
  }
}

/** Lower-cased letter/digit runs; the same split the keyword search uses for its query. */
export function lexicalTokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
