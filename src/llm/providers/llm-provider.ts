import type { ChatCompletion, ChatCompletionChunk, ChatRequest, EmbedRequest, ProviderConfig } from '../llm.js';
import type { CancelSignal } from '../call-cancel.js';

export interface ProviderCallOptions {
  timeoutMs: number;
  signal?: CancelSignal;
  /** Sent as the `Idempotency-Key` header of model calls (the same on every attempt of one call). */
  idempotencyKey?: string;
}

/** The request as sent upstream: Clarion's extensions removed, the model the provider's own name. */
export type UpstreamChatRequest = ChatRequest;

/**
 * One model provider. Every kind answers in the OpenAI shapes; translation (Anthropic) happens inside.
 * `openStream` resolves only once the provider accepted the call, so the router can still fall back.
 */
export interface LlmProvider {
  readonly config: ProviderConfig;
  chat(req: UpstreamChatRequest, o: ProviderCallOptions): Promise<ChatCompletion>;
  openStream(req: UpstreamChatRequest, o: ProviderCallOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
  embed(req: EmbedRequest, o: ProviderCallOptions): Promise<{ data: number[][]; prompt_tokens?: number }>;
  listModels(o: ProviderCallOptions): Promise<string[]>;
}

export const trimSlash = (url: string): string => url.replace(/\/+$/, '');
