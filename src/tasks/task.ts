import type { TSchema } from 'typebox';
import type { Logger } from 'pino';

/**
 * One kind of step a workflow can run (`uses: http.request`). Built-in tasks register through
 * TaskRegistry exactly as a third-party task would. System capabilities are derived from this list.
 */
export interface TaskDefinition<Input = any, Output = any> {
  /** Dotted name used in `uses:`, e.g. `http.request`. */
  readonly type: string;
  readonly description: string;
  /** Target types this task acts on; empty when it needs no target. */
  readonly targetTypes: readonly string[];
  /** Whether the step must name an agent (llm.chat, agent). */
  readonly requiresAgent?: boolean;
  /** JSON Schema of `with:`. */
  readonly inputSchema: TSchema;
  readonly outputSchema?: TSchema;
  /** Typical duration, shown in the capability store. */
  readonly estimatedMs?: number;
  run(input: Input, ctx: TaskContext): Promise<Output>;
}

/** What the engine hands a task for one attempt of one step. */
export interface TaskContext {
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  /** `runId:stepId:attempt`: passed on to the systems a task calls so a retried attempt is recognisable. */
  readonly idempotencyKey: string;
  /** Aborted on cancel or timeout; a task must stop (and kill its processes) when it fires. */
  readonly signal: AbortSignal;
  /** The user the run acts for; every lookup a task makes is scoped by it. */
  readonly userId: string;
  readonly logger: Logger;
  /** The resolved agent and target of the step, when it names them (shapes owned by their modules). */
  readonly agent?: unknown;
  readonly target?: unknown;
  /** Services a task may use, filled by the composition root (llm, targets, memory, workflows, ...). */
  readonly services: Readonly<Record<string, unknown>>;
}
