import type { DispatcherSource } from '../../net/undici.js';
import type { ChatCompletion, ChatCompletionChunk, EmbedRequest, ProviderConfig } from '../llm.js';
import { parseSse } from '../sse.js';
import type { LlmProvider, ProviderCallOptions, UpstreamChatRequest } from './llm-provider.js';
import { trimSlash } from './llm-provider.js';
import { ProviderError } from './provider-error.js';
import { getJson, postJson, postStream } from './provider-http.js';

/**
 * Any OpenAI-compatible server (OpenAI, vLLM, LM Studio, llama.cpp, OpenRouter, Ollama's /v1, ...).
 * `base_url` includes the version path, as in the official SDK: `https://api.openai.com/v1`.
 */
export class OpenAiProvider implements LlmProvider {
  protected readonly base: string;

  constructor(
    readonly config: ProviderConfig,
    protected readonly dispatcher: DispatcherSource,
  ) {
    this.base = trimSlash(config.base_url);
  }

  /** With the call's options: a model call, which carries its idempotency key. */
  protected headers(o?: ProviderCallOptions): Record<string, string> {
    const h: Record<string, string> = this.config.api_key ? { authorization: `Bearer ${this.config.api_key}` } : {};
    if (o?.idempotencyKey) h['idempotency-key'] = o.idempotencyKey;
    return h;
  }

  protected http(o: ProviderCallOptions) {
    return {
      dispatcher: this.dispatcher,
      timeoutMs: o.timeoutMs,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(this.config.api_key ? { secret: this.config.api_key } : {}),
    };
  }

  async chat(req: UpstreamChatRequest, o: ProviderCallOptions): Promise<ChatCompletion> {
    const body = { ...req, stream: false };
    delete (body as { stream_options?: unknown }).stream_options;
    const res = await postJson<ChatCompletion>(`${this.base}/chat/completions`, this.headers(o), body, this.http(o));
    if (!res || !Array.isArray(res.choices)) throw new ProviderError('protocol', 'the provider sent no choices');
    return res;
  }

  async openStream(req: UpstreamChatRequest, o: ProviderCallOptions): Promise<AsyncIterable<ChatCompletionChunk>> {
    // Usage is always asked for so streamed calls are recorded with real counts.
    const body = { ...req, stream: true, stream_options: { ...(req.stream_options ?? {}), include_usage: true } };
    const raw = await postStream(`${this.base}/chat/completions`, this.headers(o), body, this.http(o));
    return {
      async *[Symbol.asyncIterator]() {
        for await (const ev of parseSse(raw)) {
          if (ev.data === '[DONE]') return;
          if (!ev.data) continue;
          let chunk: ChatCompletionChunk & { error?: { message?: string } };
          try {
            chunk = JSON.parse(ev.data) as typeof chunk;
          } catch {
            throw new ProviderError('protocol', 'the provider sent a stream event that is not JSON');
          }
          if (chunk.error) throw new ProviderError('http', chunk.error.message ?? 'stream error', 502);
          yield chunk;
        }
      },
    };
  }

  async embed(req: EmbedRequest, o: ProviderCallOptions): Promise<{ data: number[][]; prompt_tokens?: number }> {
    const res = await postJson<{ data?: { index: number; embedding: number[] }[]; usage?: { prompt_tokens?: number } }>(
      `${this.base}/embeddings`,
      this.headers(o),
      {
        model: req.model,
        input: req.input,
        encoding_format: 'float',
        ...(req.dimensions ? { dimensions: req.dimensions } : {}),
      },
      this.http(o),
    );
    if (!Array.isArray(res.data)) throw new ProviderError('protocol', 'the provider sent no embeddings');
    const data = [...res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    return { data, ...(res.usage?.prompt_tokens !== undefined ? { prompt_tokens: res.usage.prompt_tokens } : {}) };
  }

  async listModels(o: ProviderCallOptions): Promise<string[]> {
    const res = await getJson<{ data?: { id: string }[] }>(`${this.base}/models`, this.headers(), this.http(o));
    return (res.data ?? []).map((m) => m.id).filter((id) => typeof id === 'string');
  }
}

/**
 * Ollama: chat and embeddings through its OpenAI-compatible `/v1`, models from its native `/api/tags`.
 * `base_url` is the server root, e.g. `http://localhost:11434`.
 */
export class OllamaProvider extends OpenAiProvider {
  private readonly root: string;

  constructor(config: ProviderConfig, dispatcher: DispatcherSource) {
    super({ ...config, base_url: `${trimSlash(config.base_url).replace(/\/v1$/, '')}/v1` }, dispatcher);
    this.root = trimSlash(config.base_url).replace(/\/v1$/, '');
  }

  override async listModels(o: ProviderCallOptions): Promise<string[]> {
    const res = await getJson<{ models?: { name?: string; model?: string }[] }>(
      `${this.root}/api/tags`,
      this.headers(),
      this.http(o),
    );
    return (res.models ?? []).map((m) => m.name ?? m.model ?? '').filter(Boolean);
  }
}
