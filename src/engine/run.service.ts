import type { Db } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import { nowIso } from '../db/time.js';
import { AppError, invalid } from '../errors/index.js';
import type { EventBus } from '../events/event-bus.js';
import { decodeCursor, toPage } from '../http/pagination.js';
import type { JobQueue } from '../queue/job-queue.js';
import { matchesType } from '../workflows/workflow-parser.js';
import type { WorkflowService } from '../workflows/workflow.service.js';
import type { RunsTable, RunStepsTable, StepAttemptsTable } from '../workflows/workflows.tables.js';
import { RUN_QUEUE } from './executor.js';
import { publishRunEvent, toRunEvent, type RunEvent, type StoredEvent } from './run-events.js';
import type { RunDetail, RunSummary } from './run.js';
import type { RunRepository } from './run.repository.js';
import { FatalTaskError } from './task-errors.js';
import { timeOrderedId } from '../db/time-ordered-id.js';

export interface StartRunRequest {
  inputs?: Record<string, unknown> | undefined;
  idempotencyKey?: string | undefined;
  trigger?: 'manual' | 'schedule' | 'webhook' | 'workflow';
  parent?: { runId: string; stepKey: string; depth: number };
}

const TERMINAL = ['completed', 'failed', 'cancelled'];

/** Starting, reading and steering runs. Every lookup is scoped by the acting user. */
export class RunService {
  constructor(
    private readonly db: Db,
    private readonly runs: RunRepository,
    private readonly workflows: WorkflowService,
    private readonly queue: JobQueue,
    private readonly bus: EventBus,
    private readonly opts: { maxDepth: number },
  ) {}

  /** Queues a run of the workflow's current version; the same idempotency key returns the same run. */
  async start(
    userId: string,
    workflowRef: string,
    req: StartRunRequest = {},
  ): Promise<{ run: RunSummary; created: boolean }> {
    const wf = await this.workflows.find(userId, workflowRef);
    if (req.idempotencyKey) {
      const existing = await this.runs.findByIdempotencyKey(this.db, userId, wf.id, req.idempotencyKey);
      if (existing) return { run: toSummary(existing, wf.name), created: false };
    }
    const def = await this.workflows.definition(wf.id, wf.version);
    const inputs = checkInputs(def.inputs ?? {}, req.inputs ?? {});
    const depth = req.parent ? req.parent.depth + 1 : 0;
    if (depth > this.opts.maxDepth) {
      throw new AppError('WORKFLOW_DEPTH_EXCEEDED', `Sub-workflows may nest at most ${this.opts.maxDepth} deep.`);
    }
    const now = nowIso();
    const row: RunsTable = {
      id: timeOrderedId(),
      user_id: userId,
      workflow_id: wf.id,
      workflow_version: wf.version,
      status: 'queued',
      inputs: toJson(inputs),
      outputs: null,
      error: null,
      trigger: req.trigger ?? 'manual',
      idempotency_key: req.idempotencyKey ?? null,
      parent_run_id: req.parent?.runId ?? null,
      parent_step_key: req.parent?.stepKey ?? null,
      depth,
      cancel_requested: 0,
      event_seq: 0,
      created_at: now,
      started_at: null,
      finished_at: null,
      updated_at: now,
      duration_ms: null,
    };
    let event: StoredEvent;
    try {
      event = await this.db.transaction().execute(async (trx) => {
        await this.runs.insertRun(trx, row);
        return this.runs.appendEvent(trx, row, 'run.queued', null, { trigger: row.trigger, inputs });
      });
    } catch (err) {
      // Two requests with the same key at once: the loser returns the winner's run.
      if (req.idempotencyKey) {
        const existing = await this.runs.findByIdempotencyKey(this.db, userId, wf.id, req.idempotencyKey);
        if (existing) return { run: toSummary(existing, wf.name), created: false };
      }
      throw err;
    }
    await this.queue.enqueue(RUN_QUEUE, row.id, { run_id: row.id });
    await publishRunEvent(this.bus, event);
    await this.bus.publish('engine', { type: 'wake' });
    return { run: toSummary({ ...row, event_seq: 1 }, wf.name), created: true };
  }

  /** Used by the workflow.call task: a child run that wakes its parent step when it ends. */
  async startChild(
    parent: { runId: string; stepKey: string; userId: string; depth: number; idempotencyKey: string },
    workflowRef: string,
    inputs: Record<string, unknown>,
  ): Promise<string> {
    if (parent.depth + 1 > this.opts.maxDepth) {
      throw new FatalTaskError(`Sub-workflows may nest at most ${this.opts.maxDepth} deep.`, 'WORKFLOW_DEPTH_EXCEEDED');
    }
    try {
      const { run } = await this.start(parent.userId, workflowRef, {
        inputs,
        idempotencyKey: `sub:${parent.idempotencyKey}`,
        trigger: 'workflow',
        parent: { runId: parent.runId, stepKey: parent.stepKey, depth: parent.depth },
      });
      return run.id;
    } catch (err) {
      if (err instanceof AppError && err.status < 500) throw new FatalTaskError(err.message, err.code, err.details);
      throw err;
    }
  }

  async list(
    userId: string,
    q: {
      limit: number;
      cursor?: string | undefined;
      workflow?: string | undefined;
      status?: string | undefined;
      since?: string | undefined;
    },
  ): Promise<{ items: RunSummary[]; next_cursor: string | null }> {
    const wf = q.workflow ? await this.workflows.find(userId, q.workflow) : undefined;
    const after = decodeCursor(q.cursor);
    const rows = await this.runs.list(this.db, userId, {
      limit: q.limit,
      workflowId: wf?.id,
      status: q.status,
      since: q.since ? new Date(q.since).toISOString() : undefined,
      after: after ? { k: String(after.k), id: after.id } : undefined,
    });
    const page = toPage(rows, q.limit, (r) => ({ k: r.created_at, id: r.id }));
    return { items: page.items.map((r) => toSummary(r)), next_cursor: page.next_cursor };
  }

  async find(userId: string, id: string): Promise<RunsTable> {
    const run = await this.runs.find(this.db, userId, id);
    if (!run) throw new AppError('RUN_NOT_FOUND');
    return run;
  }

  async get(userId: string, id: string): Promise<RunDetail> {
    const run = await this.find(userId, id);
    const [rows, attempts, def] = await Promise.all([
      this.runs.steps(this.db, id),
      this.runs.attempts(this.db, id),
      this.workflows.definition(run.workflow_id, run.workflow_version),
    ]);
    const byKey = new Map<string, StepAttemptsTable[]>();
    for (const a of attempts) byKey.set(a.step_key, [...(byKey.get(a.step_key) ?? []), a]);
    const order = [...def.steps, ...(def.on_failure ?? [])].map((s) => s.id);
    const seen = new Set(rows.map((r) => r.step_key));
    const steps = [
      ...rows.map((r) => toStep(r, byKey.get(r.step_key) ?? [])),
      ...order.filter((id) => !seen.has(id)).map((id) => pendingStep(id)),
    ].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id) || (a.item_index ?? -1) - (b.item_index ?? -1));
    return { ...toSummary(run, def.name), steps };
  }

  async cancel(userId: string, id: string): Promise<RunSummary> {
    const run = await this.find(userId, id);
    if (TERMINAL.includes(run.status)) throw new AppError('RUN_NOT_ACTIVE');
    const event = await this.db.transaction().execute(async (trx) => {
      await this.runs.update(trx, id, { cancel_requested: 1 });
      return this.runs.appendEvent(trx, run, 'run.cancel_requested', null, {});
    });
    await publishRunEvent(this.bus, event);
    await this.queue.enqueue(RUN_QUEUE, id, { run_id: id });
    await this.bus.publish('engine', { type: 'cancel', run_id: id });
    await this.bus.publish('engine', { type: 'wake' });
    return toSummary({ ...run, cancel_requested: 1 });
  }

  /** Runs a failed or cancelled run again from the steps that did not complete; completed steps keep their output. */
  async retry(userId: string, id: string): Promise<RunSummary> {
    const run = await this.find(userId, id);
    if (run.status !== 'failed' && run.status !== 'cancelled') throw new AppError('RUN_NOT_RETRYABLE');
    const event = await this.db.transaction().execute(async (trx) => {
      const rows = await this.runs.steps(trx, id);
      for (const r of rows) {
        if (r.status === 'completed') continue;
        await this.runs.putStep(trx, {
          ...r,
          status: 'pending',
          attempt_base: r.attempts,
          error: null,
          next_attempt_at: null,
          approval: null,
          finished_at: null,
          updated_at: nowIso(),
        });
      }
      // Foreach parents are re-derived from their items.
      await this.runs.update(trx, id, {
        status: 'queued',
        cancel_requested: 0,
        error: null,
        outputs: null,
        finished_at: null,
        duration_ms: null,
        started_at: null,
      });
      return this.runs.appendEvent(trx, run, 'run.retried', null, {});
    });
    await publishRunEvent(this.bus, event);
    await this.queue.enqueue(RUN_QUEUE, id, { run_id: id });
    await this.bus.publish('engine', { type: 'wake' });
    return toSummary({ ...run, status: 'queued', error: null, finished_at: null });
  }

  /** Answers a step waiting for a person. */
  async decide(
    userId: string,
    id: string,
    stepKey: string,
    decision: 'approve' | 'reject',
    by: string,
    comment?: string,
  ): Promise<RunSummary> {
    const run = await this.find(userId, id);
    if (TERMINAL.includes(run.status)) throw new AppError('RUN_NOT_ACTIVE');
    const event = await this.db.transaction().execute(async (trx) => {
      const row = await this.runs.step(trx, id, stepKey);
      const waiting = fromJson<{ kind?: string } | null>(row?.approval ?? null, null);
      if (!row || row.status !== 'waiting' || (waiting?.kind !== 'approval' && waiting?.kind !== 'person')) {
        throw new AppError('STEP_NOT_WAITING');
      }
      const now = nowIso();
      const answer = { decision, by, ...(comment ? { comment } : {}), at: now };
      let next: RunStepsTable;
      if (decision === 'reject') {
        next = {
          ...row,
          status: 'failed',
          error: toJson({ code: 'APPROVAL_REJECTED', message: `Rejected by ${by}${comment ? `: ${comment}` : ''}` }),
          finished_at: now,
          updated_at: now,
        };
      } else if (waiting.kind === 'approval') {
        next = {
          ...row,
          status: 'completed',
          output: toJson({ approved: true, by, comment: comment ?? null }),
          finished_at: now,
          updated_at: now,
        };
      } else {
        // A task asked for a person: approving runs it again.
        next = { ...row, status: 'retrying', next_attempt_at: now, approval: null, updated_at: now };
      }
      await this.runs.putStep(trx, next);
      return this.runs.appendEvent(
        trx,
        run,
        decision === 'approve' ? 'step.approved' : 'step.rejected',
        stepKey,
        answer,
      );
    });
    await publishRunEvent(this.bus, event);
    await this.queue.enqueue(RUN_QUEUE, id, { run_id: id });
    await this.bus.publish('engine', { type: 'wake', run_id: id });
    await this.bus.publish('engine', { type: 'wake' });
    return toSummary(run);
  }

  /** Stored events after `afterSeq` (for SSE and WebSocket replay). */
  async events(userId: string, id: string, afterSeq: number, limit = 1000): Promise<RunEvent[]> {
    await this.find(userId, id);
    return (await this.runs.events(this.db, id, afterSeq, limit)).map(toRunEvent);
  }

  /** Unscoped (the caller has checked ownership): for the WebSocket hub's replay. */
  async eventsOfOwned(run: RunsTable, afterSeq: number, limit = 1000): Promise<RunEvent[]> {
    return (await this.runs.events(this.db, run.id, afterSeq, limit)).map(toRunEvent);
  }
}

/** Checks and completes run inputs against the workflow's declared inputs. */
export function checkInputs(
  spec: Record<string, { type: string; required?: boolean | undefined; default?: unknown }>,
  given: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(given)) {
    if (!(key in spec)) throw invalid(`inputs.${key}`, 'is not an input of this workflow');
  }
  for (const [key, s] of Object.entries(spec)) {
    const v = key in given ? given[key] : s.default;
    if (v === undefined) {
      if (s.required) throw invalid(`inputs.${key}`, 'is required');
      continue;
    }
    if (!matchesType(v, s.type)) throw invalid(`inputs.${key}`, `must be of type ${s.type}`);
    out[key] = v;
  }
  return out;
}

export function toSummary(r: RunsTable, workflowName?: string): RunSummary {
  return {
    id: r.id,
    workflow_id: r.workflow_id,
    ...(workflowName ? { workflow_name: workflowName } : {}),
    workflow_version: r.workflow_version,
    status: r.status,
    trigger: r.trigger,
    inputs: fromJson(r.inputs, {}),
    outputs: fromJson(r.outputs, null),
    error: fromJson(r.error, null),
    parent_run_id: r.parent_run_id,
    created_at: r.created_at,
    started_at: r.started_at,
    finished_at: r.finished_at,
    duration_ms: r.duration_ms,
  };
}

function toStep(r: RunStepsTable, attempts: StepAttemptsTable[]): RunDetail['steps'][number] {
  return {
    key: r.step_key,
    id: r.step_id,
    item_index: r.item_index >= 0 ? r.item_index : null,
    status: r.status,
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      status: a.status,
      idempotency_key: a.idempotency_key,
      input: fromJson(a.input, null),
      output: fromJson(a.output, null),
      error: fromJson(a.error, null),
      started_at: a.started_at,
      finished_at: a.finished_at,
      duration_ms: a.duration_ms,
    })),
    output: fromJson(r.output, null),
    error: fromJson(r.error, null),
    waiting_for: r.status === 'waiting' ? fromJson(r.approval, null) : null,
    next_attempt_at: r.next_attempt_at,
    started_at: r.started_at,
    finished_at: r.finished_at,
  };
}

function pendingStep(id: string): RunDetail['steps'][number] {
  return {
    key: id,
    id,
    item_index: null,
    status: 'pending',
    attempts: [],
    output: null,
    error: null,
    waiting_for: null,
    next_attempt_at: null,
    started_at: null,
    finished_at: null,
  };
}
