/** Who is embedding, for usage records and cancellation. */
export interface EmbedContext {
  userId: string;
  apiKeyId?: string;
  agentId?: string;
  signal?: AbortSignal;
}

/**
 * Turns texts into vectors. One interface for the built-in lexical embedder and provider embeddings, so a
 * collection names its embedder and the memory service never cares which one it got.
 */
export interface Embedder {
  /** `lexical` or `provider`. */
  readonly kind: string;
  /** True when similar meaning gives similar vectors; the lexical embedder only matches shared words. */
  readonly semantic: boolean;
  embed(texts: string[], ctx: EmbedContext): Promise<Float32Array[]>;
}

/** Scales a vector to unit length in place (a zero vector stays zero), so cosine similarity is a dot product. */
export function normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  if (sum === 0) return v;
  const inv = 1 / Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
  return v;
}
