import { fromJson } from '../db/json.js';
import type { StepDefinition, WorkflowDefinition } from '../workflows/workflow-definition.js';
import type { RunStepsTable } from '../workflows/workflows.tables.js';

export type StepStatus =
  'pending' | 'running' | 'retrying' | 'waiting' | 'completed' | 'failed' | 'skipped' | 'cancelled';

export const TERMINAL_STEP = new Set<string>(['completed', 'failed', 'skipped', 'cancelled']);

/** `id` for a plain step, `id#3` for the fourth item of a foreach step. */
export const stepKey = (id: string, index: number) => (index < 0 ? id : `${id}#${index}`);

/** The step rows of one run held by the worker that leases it, plus the derived views the loop needs. */
export class RunState {
  readonly rows = new Map<string, RunStepsTable>();

  constructor(
    readonly def: WorkflowDefinition,
    rows: RunStepsTable[],
  ) {
    for (const r of rows) this.rows.set(r.step_key, r);
  }

  status(key: string): StepStatus {
    return (this.rows.get(key)?.status ?? 'pending') as StepStatus;
  }

  /** Whether a finished step lets its dependants run (failed with continue_on_error counts as done). */
  succeeded(step: StepDefinition): boolean {
    const s = this.status(step.id);
    return s === 'completed' || (s === 'failed' && step.continue_on_error === true);
  }

  /** A failure that fails the run. */
  hardFailed(step: StepDefinition): boolean {
    return this.status(step.id) === 'failed' && step.continue_on_error !== true;
  }

  /** `steps.<id>` as expressions see it: output and status of every step that has a row. */
  stepsView(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const r of this.rows.values()) {
      if (r.item_index >= 0) continue;
      out[r.step_id] = {
        status: r.status,
        output: r.status === 'completed' ? fromJson(r.output, null) : null,
        error: r.error ? fromJson(r.error, null) : null,
      };
    }
    return out;
  }

  items(stepId: string): RunStepsTable[] {
    const out: RunStepsTable[] = [];
    for (const r of this.rows.values()) if (r.step_id === stepId && r.item_index >= 0) out.push(r);
    return out.sort((a, b) => a.item_index - b.item_index);
  }

  /** Steps (foreach items included) that have started, for the per-run step limit. */
  startedCount(): number {
    let n = 0;
    for (const r of this.rows.values()) if (r.attempts > 0) n++;
    return n;
  }
}
