import { Type } from 'typebox';
import { FatalTaskError, WaitForRunError } from '../engine/task-errors.js';
import type { TaskDefinition } from './task.js';

/** What workflow.call needs from the engine (RunService.startChild). */
export interface SubRunStarter {
  startChild(
    parent: { runId: string; stepKey: string; userId: string; depth: number; idempotencyKey: string },
    workflowRef: string,
    inputs: Record<string, unknown>,
  ): Promise<string>;
}

/**
 * Runs another of the user's workflows and finishes with its outputs. The step parks (no worker is
 * held) until the sub-run ends; the sub-run is keyed by this attempt's idempotency key, so a resumed
 * attempt finds the run it already started instead of starting another.
 */
export const workflowCallTask: TaskDefinition<
  { workflow: string; inputs?: Record<string, unknown> },
  { run_id: string; outputs: unknown }
> = {
  type: 'workflow.call',
  description: 'Run another workflow (by name or id) as a sub-workflow and return its outputs.',
  targetTypes: [],
  inputSchema: Type.Object(
    {
      workflow: Type.String({ minLength: 1, maxLength: 200 }),
      inputs: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    },
    { additionalProperties: false },
  ),
  run: async (input, ctx) => {
    const runs = ctx.services.runs as SubRunStarter | undefined;
    const run = ctx.services.run as { depth: number } | undefined;
    if (!runs || !run) throw new FatalTaskError('workflow.call needs the workflow engine');
    const childId = await runs.startChild(
      {
        runId: ctx.runId,
        stepKey: ctx.stepId,
        userId: ctx.userId,
        depth: run.depth,
        idempotencyKey: ctx.idempotencyKey,
      },
      input.workflow,
      input.inputs ?? {},
    );
    throw new WaitForRunError(childId);
  },
};
