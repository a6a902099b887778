import type { ChatCompletion, ChatCompletionChunk, ChatToolCall, Usage } from './llm.js';

/** Builds the whole completion from streamed chunks, for caching, delegation checks and token counts. */
export class StreamAssembler {
  private id = '';
  private model = '';
  private created = 0;
  private text = '';
  private finish: string | null = null;
  private readonly tools: ChatToolCall[] = [];
  usage: Usage | undefined;
  sawContent = false;

  add(chunk: ChatCompletionChunk): void {
    this.id ||= chunk.id;
    this.model ||= chunk.model;
    this.created ||= chunk.created;
    if (chunk.usage) this.usage = chunk.usage;
    for (const c of chunk.choices ?? []) {
      if (c.index !== 0) continue;
      const d = c.delta ?? {};
      if (typeof d.content === 'string' && d.content) {
        this.text += d.content;
        this.sawContent = true;
      }
      for (const tc of d.tool_calls ?? []) {
        this.sawContent = true;
        let t = this.tools[tc.index];
        if (!t) {
          t = { id: tc.id ?? '', type: 'function', function: { name: '', arguments: '' } };
          this.tools[tc.index] = t;
        }
        if (tc.id) t.id = tc.id;
        if (tc.function?.name) t.function.name += tc.function.name;
        if (tc.function?.arguments) t.function.arguments += tc.function.arguments;
      }
      if (c.finish_reason) this.finish = c.finish_reason;
    }
  }

  get content(): string {
    return this.text;
  }

  get toolCalls(): ChatToolCall[] {
    return this.tools.filter(Boolean);
  }

  completion(): ChatCompletion {
    const tools = this.toolCalls;
    return {
      id: this.id,
      object: 'chat.completion',
      created: this.created || Math.floor(Date.now() / 1000),
      model: this.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: this.text || (tools.length ? null : ''),
            ...(tools.length ? { tool_calls: tools } : {}),
          },
          finish_reason: this.finish,
          logprobs: null,
        },
      ],
      ...(this.usage ? { usage: this.usage } : {}),
    };
  }
}

/** Replays a whole completion as stream chunks (cache hits and delegated answers on a streamed call). */
export function* completionToChunks(c: ChatCompletion, includeUsage: boolean): Generator<ChatCompletionChunk> {
  const base = { id: c.id, object: 'chat.completion.chunk' as const, created: c.created, model: c.model };
  const choice = c.choices[0];
  yield { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] };
  if (choice?.message.content) {
    yield { ...base, choices: [{ index: 0, delta: { content: choice.message.content }, finish_reason: null }] };
  }
  for (const [index, tc] of (choice?.message.tool_calls ?? []).entries()) {
    yield {
      ...base,
      choices: [
        {
          index: 0,
          delta: { tool_calls: [{ index, id: tc.id, type: 'function', function: tc.function }] },
          finish_reason: null,
        },
      ],
    };
  }
  yield { ...base, choices: [{ index: 0, delta: {}, finish_reason: choice?.finish_reason ?? 'stop' }] };
  if (includeUsage && c.usage) yield { ...base, choices: [], usage: c.usage };
}
