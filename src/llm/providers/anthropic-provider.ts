import { randomUUID } from 'node:crypto';
import type { DispatcherSource } from '../../net/undici.js';
import { AppError } from '../../errors/index.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatMessage,
  ChatToolCall,
  EmbedRequest,
  ProviderConfig,
  Usage,
} from '../llm.js';
import { parseSse } from '../sse.js';
import type { LlmProvider, ProviderCallOptions, UpstreamChatRequest } from './llm-provider.js';
import { trimSlash } from './llm-provider.js';
import { ProviderError } from './provider-error.js';
import { getJson, postJson, postStream } from './provider-http.js';

const VERSION = '2023-06-01';
const DEFAULT_MAX_TOKENS = 4096;

type Block =
  | { type: 'text'; text: string }
  | { type: 'image'; source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string } }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string };

interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

interface AnthropicResponse {
  id: string;
  model: string;
  content: Array<{ type: string; text?: string; id?: string; name?: string; input?: unknown }>;
  stop_reason: string | null;
  usage?: {
    input_tokens?: number;
    output_tokens?: number;
    cache_read_input_tokens?: number;
    cache_creation_input_tokens?: number;
  };
}

const textOf = (content: ChatMessage['content']): string =>
  typeof content === 'string'
    ? content
    : Array.isArray(content)
      ? content.map((p) => (typeof p.text === 'string' ? p.text : '')).join('')
      : '';

function blocksOf(content: ChatMessage['content']): Block[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  if (!Array.isArray(content)) return [];
  const out: Block[] = [];
  for (const part of content) {
    if (part.type === 'text' && typeof part.text === 'string') out.push({ type: 'text', text: part.text });
    else if (part.type === 'image_url') {
      const url = (part.image_url as { url?: string } | undefined)?.url ?? '';
      const m = /^data:([^;]+);base64,(.*)$/s.exec(url);
      if (m) out.push({ type: 'image', source: { type: 'base64', media_type: m[1]!, data: m[2]! } });
      else if (url) out.push({ type: 'image', source: { type: 'url', url } });
    }
  }
  return out;
}

const stopReason = (r: string | null | undefined): string | null =>
  r === 'tool_use' ? 'tool_calls' : r === 'max_tokens' ? 'length' : r ? 'stop' : null;

function usageOf(u: AnthropicResponse['usage']): Usage {
  const prompt = (u?.input_tokens ?? 0) + (u?.cache_read_input_tokens ?? 0) + (u?.cache_creation_input_tokens ?? 0);
  const completion = u?.output_tokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Translates an OpenAI chat request to an Anthropic Messages request. */
export function toAnthropicRequest(req: UpstreamChatRequest): Record<string, unknown> {
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  const push = (role: 'user' | 'assistant', blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    // Anthropic wants alternating roles: consecutive same-role turns (e.g. several tool results) merge.
    if (last && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (const m of req.messages) {
    if (m.role === 'system' || m.role === 'developer') system.push(textOf(m.content));
    else if (m.role === 'user') push('user', blocksOf(m.content));
    else if (m.role === 'assistant') {
      const blocks = blocksOf(m.content);
      for (const tc of m.tool_calls ?? []) {
        let input: unknown = {};
        try {
          input = tc.function.arguments ? JSON.parse(tc.function.arguments) : {};
        } catch {
          input = { _raw: tc.function.arguments };
        }
        blocks.push({ type: 'tool_use', id: tc.id, name: tc.function.name, input });
      }
      push('assistant', blocks);
    } else if (m.role === 'tool') {
      push('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id ?? '', content: textOf(m.content) }]);
    }
  }
  if (req.response_format?.type === 'json_object' || req.response_format?.type === 'json_schema') {
    system.push('Respond with a single JSON value only, no prose.');
  }
  const out: Record<string, unknown> = {
    model: req.model,
    messages,
    max_tokens: req.max_completion_tokens ?? req.max_tokens ?? DEFAULT_MAX_TOKENS,
  };
  if (system.length) out.system = system.join('\n\n');
  if (typeof req.temperature === 'number') out.temperature = Math.min(1, req.temperature);
  if (typeof req.top_p === 'number') out.top_p = req.top_p;
  if (req.stop) out.stop_sequences = Array.isArray(req.stop) ? req.stop : [req.stop];
  if (req.tools?.length) {
    out.tools = req.tools.map((t) => ({
      name: t.function.name,
      ...(t.function.description ? { description: t.function.description } : {}),
      input_schema: t.function.parameters ?? { type: 'object', properties: {} },
    }));
  }
  const tc = req.tool_choice;
  if (tc === 'auto') out.tool_choice = { type: 'auto' };
  else if (tc === 'required') out.tool_choice = { type: 'any' };
  else if (tc === 'none') out.tool_choice = { type: 'none' };
  else if (tc && typeof tc === 'object') {
    const name = (tc as { function?: { name?: string } }).function?.name;
    if (name) out.tool_choice = { type: 'tool', name };
  }
  return out;
}

/** Translates an Anthropic Messages answer to an OpenAI chat completion. */
export function fromAnthropicResponse(res: AnthropicResponse, model: string): ChatCompletion {
  let text = '';
  const toolCalls: ChatToolCall[] = [];
  for (const b of res.content ?? []) {
    if (b.type === 'text') text += b.text ?? '';
    else if (b.type === 'tool_use') {
      toolCalls.push({
        id: b.id ?? `toolu_${randomUUID()}`,
        type: 'function',
        function: { name: b.name ?? '', arguments: JSON.stringify(b.input ?? {}) },
      });
    }
  }
  return {
    id: res.id ?? `msg_${randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: res.model ?? model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text || (toolCalls.length ? null : ''),
          ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: stopReason(res.stop_reason),
        logprobs: null,
      },
    ],
    usage: usageOf(res.usage),
  };
}

/** Anthropic's Messages API, answering in the OpenAI shapes. `base_url` is `https://api.anthropic.com`. */
export class AnthropicProvider implements LlmProvider {
  private readonly base: string;

  constructor(
    readonly config: ProviderConfig,
    private readonly dispatcher: DispatcherSource,
  ) {
    this.base = trimSlash(config.base_url).replace(/\/v1$/, '');
  }

  /** With the call's options: a model call, which carries its idempotency key. */
  private headers(o?: ProviderCallOptions): Record<string, string> {
    return {
      'anthropic-version': VERSION,
      ...(this.config.api_key ? { 'x-api-key': this.config.api_key } : {}),
      ...(o?.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {}),
    };
  }

  private http(o: ProviderCallOptions) {
    return {
      dispatcher: this.dispatcher,
      timeoutMs: o.timeoutMs,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(this.config.api_key ? { secret: this.config.api_key } : {}),
    };
  }

  async chat(req: UpstreamChatRequest, o: ProviderCallOptions): Promise<ChatCompletion> {
    const res = await postJson<AnthropicResponse>(
      `${this.base}/v1/messages`,
      this.headers(o),
      toAnthropicRequest(req),
      this.http(o),
    );
    if (!res || !Array.isArray(res.content)) throw new ProviderError('protocol', 'the provider sent no content');
    return fromAnthropicResponse(res, req.model);
  }

  async openStream(req: UpstreamChatRequest, o: ProviderCallOptions): Promise<AsyncIterable<ChatCompletionChunk>> {
    const raw = await postStream(
      `${this.base}/v1/messages`,
      this.headers(o),
      { ...toAnthropicRequest(req), stream: true },
      this.http(o),
    );
    const model = req.model;
    return {
      async *[Symbol.asyncIterator]() {
        let id = `msg_${randomUUID()}`;
        let upstreamModel = model;
        const created = Math.floor(Date.now() / 1000);
        let usage: AnthropicResponse['usage'] = {};
        // Anthropic numbers content blocks across text and tools; OpenAI numbers tool calls only.
        const toolIndex = new Map<number, number>();
        const chunk = (
          delta: ChatCompletionChunk['choices'][number]['delta'],
          finish: string | null = null,
        ): ChatCompletionChunk => ({
          id,
          object: 'chat.completion.chunk',
          created,
          model: upstreamModel,
          choices: [{ index: 0, delta, finish_reason: finish }],
        });
        for await (const ev of parseSse(raw)) {
          if (!ev.data) continue;
          let data: any;
          try {
            data = JSON.parse(ev.data);
          } catch {
            throw new ProviderError('protocol', 'the provider sent a stream event that is not JSON');
          }
          switch (data.type) {
            case 'message_start':
              id = data.message?.id ?? id;
              upstreamModel = data.message?.model ?? upstreamModel;
              usage = { ...usage, ...(data.message?.usage ?? {}) };
              yield chunk({ role: 'assistant', content: '' });
              break;
            case 'content_block_start':
              if (data.content_block?.type === 'tool_use') {
                const i = toolIndex.size;
                toolIndex.set(data.index, i);
                yield chunk({
                  tool_calls: [
                    {
                      index: i,
                      id: data.content_block.id,
                      type: 'function',
                      function: { name: data.content_block.name, arguments: '' },
                    },
                  ],
                });
              }
              break;
            case 'content_block_delta':
              if (data.delta?.type === 'text_delta') yield chunk({ content: data.delta.text ?? '' });
              else if (data.delta?.type === 'input_json_delta') {
                yield chunk({
                  tool_calls: [
                    { index: toolIndex.get(data.index) ?? 0, function: { arguments: data.delta.partial_json ?? '' } },
                  ],
                });
              }
              break;
            case 'message_delta':
              usage = { ...usage, ...(data.usage ?? {}) };
              yield chunk({}, stopReason(data.delta?.stop_reason) ?? 'stop');
              break;
            case 'message_stop': {
              const final = chunk({});
              final.choices = [];
              final.usage = usageOf(usage);
              yield final;
              return;
            }
            case 'error':
              throw new ProviderError(
                'http',
                String(data.error?.message ?? 'stream error'),
                data.error?.type === 'overloaded_error' ? 529 : 502,
              );
            default:
              break; // ping and future event types
          }
        }
      },
    };
  }

  async embed(_req: EmbedRequest, _o: ProviderCallOptions): Promise<never> {
    throw new AppError('LLM_UNSUPPORTED', `Provider ${this.config.name} (anthropic) has no embeddings.`, {
      provider: this.config.name,
    });
  }

  async listModels(o: ProviderCallOptions): Promise<string[]> {
    const res = await getJson<{ data?: { id: string }[] }>(`${this.base}/v1/models`, this.headers(), this.http(o));
    return (res.data ?? []).map((m) => m.id);
  }
}
