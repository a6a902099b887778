import { AppError } from '../errors/index.js';
import type { EmbedContext, Embedder } from './embedder.js';

/** The narrow slice of the LLM service that embedding needs (see contracts: LlmService.embed). */
export interface EmbeddingsApi {
  embed(
    req: { model: string; input: string | string[] },
    ctx: { userId: string; apiKeyId?: string; agentId?: string; signal?: AbortSignal },
  ): Promise<{ data: number[][]; model: string; usage?: { prompt_tokens: number } }>;
}

/** Provider embeddings (OpenAI-compatible `/v1/embeddings`, Ollama, ...) through the LLM layer, in batches. */
export class ProviderEmbedder implements Embedder {
  readonly kind = 'provider';
  readonly semantic = true;

  constructor(
    private readonly llm: EmbeddingsApi,
    readonly model: string,
    private readonly batchSize = 64,
  ) {}

  async embed(texts: string[], ctx: EmbedContext): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) {
      const batch = texts.slice(i, i + this.batchSize);
      const res = await this.llm.embed(
        { model: this.model, input: batch },
        {
          userId: ctx.userId,
          ...(ctx.apiKeyId ? { apiKeyId: ctx.apiKeyId } : {}),
          ...(ctx.agentId ? { agentId: ctx.agentId } : {}),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        },
      );
      if (!Array.isArray(res.data) || res.data.length !== batch.length) {
        throw new AppError('MEMORY_EMBEDDING_FAILED', 'The embedding provider returned a different number of vectors.');
      }
      for (const v of res.data) out.push(Float32Array.from(v));
    }
    return out;
  }
}
