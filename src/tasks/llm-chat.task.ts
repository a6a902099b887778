import { Type } from 'typebox';
import { FatalTaskError } from '../engine/task-errors.js';
import type { ChatCompletion, ChatRequest, LlmCallContext } from '../llm/llm.js';
import type { TaskContext } from './task.js';
import type { TaskDefinition } from './task.js';

/** What the LLM tasks need from the LLM layer and the agents module. */
export interface LlmApi {
  chat(req: ChatRequest, ctx: LlmCallContext): Promise<ChatCompletion>;
}
export interface AgentLookup {
  getForRun(
    userId: string,
    ref: string,
  ): Promise<{
    id: string;
    name: string;
    model: string;
    system_prompt: string;
    temperature: number | null;
    max_tokens: number | null;
    capabilities: string[];
  }>;
}

const Message = Type.Object(
  {
    role: Type.Union([Type.Literal('system'), Type.Literal('user'), Type.Literal('assistant')]),
    content: Type.String({ maxLength: 1_000_000 }),
  },
  { additionalProperties: false },
);

export interface LlmChatInput {
  prompt?: string;
  messages?: { role: 'system' | 'user' | 'assistant'; content: string }[];
  model?: string;
  temperature?: number;
  max_tokens?: number;
  json?: boolean;
}

export function llmOf(ctx: TaskContext): LlmApi {
  const llm = ctx.services.llm as LlmApi | undefined;
  if (!llm) throw new FatalTaskError('The LLM layer is not available in this process.');
  return llm;
}

export async function agentOf(ctx: TaskContext) {
  const agents = ctx.services.agents as AgentLookup | undefined;
  if (typeof ctx.agent !== 'string') return undefined;
  if (!agents) throw new FatalTaskError('Agents are not available in this process.');
  return agents.getForRun(ctx.userId, ctx.agent);
}

export function callContext(ctx: TaskContext, agentId?: string): LlmCallContext {
  return {
    userId: ctx.userId,
    runId: ctx.runId,
    stepId: ctx.stepId,
    signal: ctx.signal,
    idempotencyKey: ctx.idempotencyKey,
    ...(agentId ? { agentId } : {}),
  };
}

/** One chat completion through the LLM layer, with the step's agent's model, prompt and settings. */
export const llmChatTask: TaskDefinition<
  LlmChatInput,
  { text: string; json?: unknown; model: string; finish_reason: string | null; usage: unknown }
> = {
  type: 'llm.chat',
  description: "Ask a model (the step's agent's model and system prompt, or `model`) and return its answer.",
  targetTypes: [],
  inputSchema: Type.Object(
    {
      prompt: Type.Optional(Type.String({ maxLength: 1_000_000 })),
      messages: Type.Optional(Type.Array(Message, { maxItems: 500 })),
      model: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
      max_tokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
      json: Type.Optional(Type.Boolean({ description: 'ask for a JSON object and parse it into output.json' })),
    },
    { additionalProperties: false },
  ),
  run: async (input, ctx) => {
    const agent = await agentOf(ctx);
    const model = input.model ?? agent?.model;
    if (!model) throw new FatalTaskError('llm.chat needs an agent or a model.', 'VALIDATION_FAILED');
    if (!input.prompt && !input.messages?.length) {
      throw new FatalTaskError('llm.chat needs a prompt or messages.', 'VALIDATION_FAILED');
    }
    const messages: ChatRequest['messages'] = [];
    if (agent?.system_prompt) messages.push({ role: 'system', content: agent.system_prompt });
    for (const m of input.messages ?? []) messages.push(m);
    if (input.prompt) messages.push({ role: 'user', content: input.prompt });
    const temperature = input.temperature ?? agent?.temperature ?? undefined;
    const maxTokens = input.max_tokens ?? agent?.max_tokens ?? undefined;
    const res = await llmOf(ctx).chat(
      {
        model,
        messages,
        ...(temperature !== undefined && temperature !== null ? { temperature } : {}),
        ...(maxTokens !== undefined && maxTokens !== null ? { max_tokens: maxTokens } : {}),
        ...(input.json ? { response_format: { type: 'json_object' } } : {}),
      },
      callContext(ctx, agent?.id),
    );
    const choice = res.choices[0];
    const text = typeof choice?.message?.content === 'string' ? choice.message.content : '';
    let json: unknown;
    if (input.json) {
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        throw new FatalTaskError('The model did not answer with JSON.', 'LLM_BAD_JSON', { text: text.slice(0, 1000) });
      }
    }
    return {
      text,
      ...(input.json ? { json } : {}),
      model: res.model,
      finish_reason: choice?.finish_reason ?? null,
      usage: res.usage ?? null,
    };
  },
};
