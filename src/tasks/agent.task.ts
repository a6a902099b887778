import { Type } from 'typebox';
import Value from 'typebox/value';
import { FatalTaskError } from '../engine/task-errors.js';
import type { ChatMessage, ChatTool } from '../llm/llm.js';
import type { TaskContext, TaskDefinition } from './task.js';
import type { TaskRegistry } from './task-registry.js';
import { agentOf, callContext, llmOf } from './llm-chat.task.js';

const MAX_TOOL_OUTPUT = 50_000;

/** OpenAI tool names allow [A-Za-z0-9_-]; task types have dots. */
const toolName = (type: string) => type.replace(/\./g, '__');

/**
 * A tool-calling loop: the step's agent gets the task as its prompt and may call the tasks its
 * capabilities grant (`system:<task type>`), each checked against the task's input schema and run
 * with this step's context (user, target, signal, idempotency key per call), until it answers or
 * `max_iterations` is reached.
 */
export const agentTask: TaskDefinition<
  { task: string; max_iterations?: number },
  { text: string; iterations: number; tool_calls: { tool: string; ok: boolean }[] }
> = {
  type: 'agent',
  description: "Let the step's agent work on a task, calling the tools its capabilities allow.",
  targetTypes: [],
  requiresAgent: true,
  inputSchema: Type.Object(
    {
      task: Type.String({ minLength: 1, maxLength: 1_000_000 }),
      max_iterations: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
    },
    { additionalProperties: false },
  ),
  run: async (input, ctx) => {
    const agent = await agentOf(ctx);
    if (!agent) throw new FatalTaskError('The agent task needs `agent:` on the step.', 'VALIDATION_FAILED');
    const registry = ctx.services.tasks as TaskRegistry | undefined;
    const allowed = new Map<string, TaskDefinition>();
    for (const cap of agent.capabilities) {
      const type = cap.startsWith('system:') ? cap.slice('system:'.length) : undefined;
      const task = type ? registry?.get(type) : undefined;
      // An agent never gets itself or sub-workflows as tools: no unbounded recursion.
      if (task && task.type !== 'agent' && task.type !== 'workflow.call') allowed.set(toolName(task.type), task);
    }
    const tools: ChatTool[] = [...allowed.entries()].map(([name, t]) => ({
      type: 'function',
      function: {
        name,
        description: t.description,
        parameters: JSON.parse(JSON.stringify(t.inputSchema)) as Record<string, unknown>,
      },
    }));
    const messages: ChatMessage[] = [];
    if (agent.system_prompt) messages.push({ role: 'system', content: agent.system_prompt });
    messages.push({ role: 'user', content: input.task });
    const calls: { tool: string; ok: boolean }[] = [];
    const max = input.max_iterations ?? 8;
    for (let i = 1; i <= max; i++) {
      const res = await llmOf(ctx).chat(
        {
          model: agent.model,
          messages,
          ...(tools.length ? { tools } : {}),
          ...(agent.temperature !== null ? { temperature: agent.temperature } : {}),
          ...(agent.max_tokens !== null ? { max_tokens: agent.max_tokens } : {}),
        },
        // One key per model call: each iteration asks something new, and the upstream gets the key.
        { ...callContext(ctx, agent.id), idempotencyKey: `${ctx.idempotencyKey}:llm${i}` },
      );
      const msg = res.choices[0]?.message;
      const toolCalls = msg?.tool_calls ?? [];
      if (toolCalls.length === 0) {
        return { text: typeof msg?.content === 'string' ? msg.content : '', iterations: i, tool_calls: calls };
      }
      messages.push({ role: 'assistant', content: msg?.content ?? null, tool_calls: toolCalls });
      for (const call of toolCalls) {
        const content = await runTool(allowed, call.function.name, call.function.arguments, ctx, i, calls);
        messages.push({ role: 'tool', tool_call_id: call.id, content });
      }
    }
    throw new FatalTaskError(`The agent did not finish within ${max} iterations.`, 'AGENT_MAX_ITERATIONS', {
      tool_calls: calls,
    });
  },
};

async function runTool(
  allowed: Map<string, TaskDefinition>,
  name: string,
  rawArgs: string,
  ctx: TaskContext,
  iteration: number,
  calls: { tool: string; ok: boolean }[],
): Promise<string> {
  const task = allowed.get(name);
  const fail = (message: string) => {
    calls.push({ tool: name, ok: false });
    return JSON.stringify({ error: message });
  };
  if (!task) return fail(`no tool named ${name}`);
  let args: unknown;
  try {
    args = JSON.parse(rawArgs || '{}') as unknown;
  } catch {
    return fail('arguments are not JSON');
  }
  if (!Value.Check(task.inputSchema, args)) {
    const e = [...Value.Errors(task.inputSchema, args)][0];
    return fail(`arguments${e?.instancePath ?? ''}: ${e?.message ?? 'invalid'}`);
  }
  try {
    const key = `${ctx.idempotencyKey}:tool${iteration}:${calls.length}`;
    const out = await task.run(args, { ...ctx, idempotencyKey: key });
    calls.push({ tool: name, ok: true });
    const text = JSON.stringify(out ?? null);
    return text.length > MAX_TOOL_OUTPUT ? `${text.slice(0, MAX_TOOL_OUTPUT)}…(truncated)` : text;
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    return fail(err instanceof Error ? err.message : String(err));
  }
}
