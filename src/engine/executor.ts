import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import Value from 'typebox/value';
import { parseDuration } from '../config/setting.js';
import type { Db, DbOrTrx } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import { nowIso } from '../db/time.js';
import { isAppError } from '../errors/index.js';
import type { EventBus } from '../events/event-bus.js';
import type { JobQueue, LeasedJob } from '../queue/job-queue.js';
import type { TaskContext } from '../tasks/task.js';
import type { TaskRegistry } from '../tasks/task-registry.js';
import { ExpressionError, type Expressions } from '../workflows/expression.js';
import type { StepDefinition, WorkflowDefinition } from '../workflows/workflow-definition.js';
import type { WorkflowService } from '../workflows/workflow.service.js';
import type { RunsTable, RunStepsTable, StepAttemptsTable } from '../workflows/workflows.tables.js';
import { backoffDelay } from './backoff.js';
import { publishRunEvent, type StoredEvent } from './run-events.js';
import type { RunRepository } from './run.repository.js';
import { RunState, stepKey, TERMINAL_STEP } from './run-state.js';
import { FatalTaskError, RetryLaterError, WaitForPersonError, WaitForRunError } from './task-errors.js';
import { timeOrderedId } from '../db/time-ordered-id.js';

export const RUN_QUEUE = 'runs';

export interface ExecutorOptions {
  maxConcurrentRuns: number;
  maxRunsPerUser: number;
  leaseMs: number;
  pollMs: number;
  maxStepsPerRun: number;
  maxForeachItems: number;
  maxStepOutputBytes: number;
  /** Waits shorter than this are slept through while holding the run; longer ones give it back. */
  holdWaitMs?: number;
}

export interface ExecutorDeps {
  db: Db;
  queue: JobQueue;
  bus: EventBus;
  runs: RunRepository;
  workflows: WorkflowService;
  tasks: TaskRegistry;
  expressions: Expressions;
  logger: Logger;
  /** Services handed to tasks (llm, targets, agents, runs, ...). */
  services: () => Readonly<Record<string, unknown>>;
  /** Resolves a step that `uses:` a capability rather than a task type. */
  capabilities?: StepCapabilities;
}

/** What the executor needs of capabilities (CapabilityService.prepareStep). */
export interface StepCapabilities {
  prepareStep(
    userId: string,
    ref: string,
    input: unknown,
    on: { agent?: string; target?: string },
  ): Promise<
    { ok: true; taskType: string; input: Record<string, unknown> } | { ok: false; code: string; reason: string }
  >;
}

/** Why a run's in-flight work was aborted. */
type AbortReason = 'cancel' | 'shutdown' | 'lease-lost' | 'run-timeout';

class StepError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly details?: Record<string, unknown>,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** One run this worker holds. */
class ActiveRun {
  readonly abort = new AbortController();
  reason: AbortReason | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;

  constructor(
    readonly runId: string,
    readonly job: LeasedJob,
    /** The run as read with the others of its claim (one query for them all), for the first look at it. */
    public claimed: RunsTable | undefined,
  ) {}

  stop(reason: AbortReason): void {
    if (this.reason) return;
    this.reason = reason;
    this.abort.abort(reason);
    this.wake();
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Resolves on wake() or after `ms` (never, when undefined). */
  sleep(ms: number | undefined): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.wakeUp = undefined;
        this.woken = false;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, Math.max(0, ms));
      this.wakeUp = done;
    });
  }
}

type Outcome = { done: true } | { done: false; delayMs: number | undefined };

interface PendingWrite {
  fn: (trx: DbOrTrx, emit: (e: StoredEvent) => void) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** A step still running after this long gets its start recorded (fast steps commit once, at the end). */
const START_RECORD_AFTER_MS = 25;

/**
 * The durable executor. A run is a job on the `runs` queue; the worker that claims it holds a lease
 * it renews and drives the run: ready steps start in parallel, each attempt is a row committed before
 * the task runs and again (with its output) before any dependant is scheduled. A worker that dies
 * leaves its lease to expire; whoever claims the run next reloads the rows, never re-runs completed
 * steps, and re-runs an interrupted attempt with the same idempotency key.
 */
export class Executor {
  readonly workerId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly active = new Map<string, ActiveRun>();
  private readonly driving = new Set<Promise<void>>();
  private pollTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private pollAgain = false;
  /** The last look may have left due runs unclaimed (it took a full batch, or every slot was busy). */
  private backlog = true;
  private stopping = false;
  private unsubscribe: (() => void) | undefined;
  private readonly pending: PendingWrite[] = [];
  private flushing = false;

  constructor(
    private readonly deps: ExecutorDeps,
    private readonly opts: ExecutorOptions,
  ) {}

  /** Starts claiming runs; again after stop() too (a paused worker resumes). */
  start(): void {
    this.stopping = false;
    this.unsubscribe = this.deps.bus.subscribe('engine', (e) => {
      const runId = typeof e.run_id === 'string' ? e.run_id : undefined;
      if (e.type === 'cancel' && runId) this.active.get(runId)?.stop('cancel');
      else if (e.type === 'wake' && runId && this.active.has(runId)) this.active.get(runId)!.wake();
      else if (e.type === 'wake') this.poke();
    });
    this.pollTimer = setInterval(() => this.poke(), this.opts.pollMs);
    this.pollTimer.unref();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(50, Math.floor(this.opts.leaseMs / 3)));
    this.heartbeatTimer.unref();
    this.poke();
  }

  /** Stops claiming, interrupts running steps (they resume elsewhere under the same key) and gives runs back. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    clearInterval(this.pollTimer);
    clearInterval(this.heartbeatTimer);
    for (const a of this.active.values()) a.stop('shutdown');
    await Promise.allSettled([...this.driving]);
  }

  get activeRuns(): number {
    return this.active.size;
  }

  /** Looks for due runs now. */
  poke(): void {
    if (this.stopping) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = true;
    void this.poll()
      .catch((err: unknown) => this.deps.logger.error({ err }, 'engine poll failed'))
      .finally(() => {
        this.polling = false;
        if (this.pollAgain && !this.stopping) {
          this.pollAgain = false;
          setImmediate(() => this.poke());
        }
      });
  }

  private async poll(): Promise<void> {
    const free = this.opts.maxConcurrentRuns - this.active.size;
    if (free <= 0) {
      this.backlog = true;
      return;
    }
    const limit = Math.min(free, 100);
    const jobs = await this.deps.queue.claim<{ run_id: string }>(RUN_QUEUE, this.workerId, {
      limit,
      leaseMs: this.opts.leaseMs,
    });
    // The claimed runs are read in one query rather than one each as they start (if it fails, each reads its own).
    const claimed = await this.deps.runs
      .getMany(
        this.deps.db,
        jobs.map((j) => j.payload.run_id),
      )
      .catch(() => new Map<string, RunsTable>());
    for (const job of jobs) {
      const a = new ActiveRun(job.payload.run_id, job, claimed.get(job.payload.run_id));
      this.active.set(a.runId, a);
      const p = this.advance(a).finally(() => {
        this.active.delete(a.runId);
        this.driving.delete(p);
        // A slot is free: when the last look left due work behind, look again without waiting for the next tick.
        // (After a look that found less than it could take, new runs announce themselves with a wake event and
        // delayed ones are found by the timer: a thousand finishing runs are not a thousand empty claims.)
        if (!this.stopping && this.backlog) this.poke();
      });
      this.driving.add(p);
    }
    this.backlog = jobs.length === limit;
    if (this.backlog) this.pollAgain = true;
  }

  private async heartbeat(): Promise<void> {
    if (this.active.size === 0) return;
    const list = [...this.active.values()];
    await Promise.all(
      list.map(async (a) => {
        try {
          if (!(await this.deps.queue.renew(a.job, this.workerId, this.opts.leaseMs))) a.stop('lease-lost');
        } catch (err) {
          this.deps.logger.warn({ err, run: a.runId }, 'lease renewal failed');
        }
      }),
    );
    // Cancels requested through another node reach us here.
    try {
      for (const id of await this.deps.runs.cancelRequested(this.deps.db, [...this.active.keys()])) {
        this.active.get(id)?.stop('cancel');
      }
    } catch (err) {
      this.deps.logger.warn({ err }, 'cancel check failed');
    }
  }

  private async advance(a: ActiveRun): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.drive(a);
    } catch (err) {
      this.deps.logger.error({ err, run: a.runId }, 'run failed to advance; retrying later');
      outcome = { done: false, delayMs: 1000 };
    }
    try {
      if (a.reason === 'lease-lost') return;
      if (outcome.done) await this.deps.queue.complete(a.job, this.workerId);
      else if (outcome.delayMs === undefined && a.reason !== 'shutdown') {
        // Nothing timed to wait for (an approval or a sub-run): whoever changes that enqueues the run.
        await this.deps.queue.complete(a.job, this.workerId);
      } else await this.deps.queue.release(a.job, this.workerId, outcome.delayMs ?? 0);
    } catch (err) {
      this.deps.logger.error({ err, run: a.runId }, 'could not hand the run back; its lease will expire');
    }
  }

  /**
   * Commits `fn`'s writes and events, then publishes the events. Writes of concurrent steps are
   * group-committed: whatever queued while one transaction was committing goes into the next one,
   * and each caller resumes only after its writes are durable.
   */
  private tx<T>(fn: (trx: DbOrTrx, emit: (e: StoredEvent) => void) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve, reject } as PendingWrite);
      // Wait one turn of the event loop so the writes of steps finishing together share a commit.
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, 256);
        const events: StoredEvent[] = [];
        let results: unknown[] | undefined;
        try {
          results = await this.deps.db.transaction().execute(async (trx) => {
            const out: unknown[] = [];
            for (const w of batch) out.push(await w.fn(trx, (e) => events.push(e)));
            return out;
          });
        } catch {
          // One bad write must not sink the others: commit them one by one instead.
          for (const w of batch) {
            const own: StoredEvent[] = [];
            try {
              const r = await this.deps.db.transaction().execute((trx) => w.fn(trx, (e) => own.push(e)));
              await this.publishAll(own);
              w.resolve(r);
            } catch (err) {
              w.reject(err);
            }
          }
          continue;
        }
        await this.publishAll(events);
        batch.forEach((w, i) => w.resolve(results![i]));
      }
    } finally {
      this.flushing = false;
    }
  }

  private async publishAll(events: StoredEvent[]): Promise<void> {
    for (const e of events) {
      try {
        await publishRunEvent(this.deps.bus, e);
      } catch (err) {
        this.deps.logger.warn({ err }, 'event publish failed');
      }
    }
  }

  private async event(
    trx: DbOrTrx,
    emit: (e: StoredEvent) => void,
    run: RunsTable,
    type: string,
    key: string | null,
    data: Record<string, unknown>,
  ): Promise<void> {
    emit(await this.deps.runs.appendEvent(trx, run, type, key, data));
  }

  private async eventWith(
    trx: DbOrTrx,
    emit: (e: StoredEvent) => void,
    run: RunsTable,
    pre: { type: string; stepKey: string | null; data: Record<string, unknown> }[],
    type: string,
    key: string | null,
    data: Record<string, unknown>,
  ): Promise<void> {
    await this.events(trx, emit, run, [...pre, { type, stepKey: key, data }]);
  }

  private async events(
    trx: DbOrTrx,
    emit: (e: StoredEvent) => void,
    run: RunsTable,
    list: { type: string; stepKey: string | null; data: Record<string, unknown> }[],
  ): Promise<void> {
    for (const e of await this.deps.runs.appendEvents(trx, run, list)) emit(e);
  }

  private async drive(a: ActiveRun): Promise<Outcome> {
    const { runs, db } = this.deps;
    let run = a.claimed ?? (await runs.get(db, a.runId));
    a.claimed = undefined;
    if (!run || ['completed', 'failed', 'cancelled'].includes(run.status)) return { done: true };
    const def = await this.deps.workflows.definition(run.workflow_id, run.workflow_version);

    if (run.cancel_requested) {
      await this.finishRun(run, new RunState(def, await runs.steps(db, run.id)), 'cancelled', null, {
        code: 'STEP_CANCELLED',
        message: 'The run was cancelled.',
      });
      return { done: true };
    }

    // A run whose only event is its run.queued has never started, so it has no step rows to read (every write
    // of a step row appends an event in the same transaction; a retried run has its run.retried).
    const neverStarted = run.status === 'queued' && Number(run.event_seq) <= 1;
    if (run.status === 'queued') {
      // The limits are counted and the run started in one transaction, serialised per user and workflow
      // (lockRunStarts), so runs starting at once on several workers cannot all pass the same count.
      const startedAt = run.started_at ?? nowIso();
      const queued = run;
      const blocked = await this.tx(async (trx, emit) => {
        await runs.lockRunStarts(trx, queued.user_id, def.concurrency ? queued.workflow_id : undefined);
        const max = this.opts.maxRunsPerUser;
        // Run starts sharing one group commit count a user's active runs once: within the transaction only its
        // own starts add to the count (other writers wait for it, and runs finishing meanwhile only lower it).
        const counts = activeCountsOf(trx);
        const userKey = `u:${queued.user_id}`;
        const active = counts.get(userKey) ?? (await runs.countActiveForUser(trx, queued.user_id, max));
        if (active >= max) return 'user';
        if (def.concurrency && (await runs.countActiveForWorkflow(trx, queued.workflow_id)) >= def.concurrency) {
          counts.set(userKey, active);
          return 'workflow';
        }
        counts.set(userKey, active + 1);
        await runs.update(trx, queued.id, { status: 'running', started_at: startedAt });
        await this.event(trx, emit, queued, 'run.started', null, { workflow_version: queued.workflow_version });
        return undefined;
      });
      if (blocked === 'user') return { done: false, delayMs: 500 + Math.floor(Math.random() * 500) };
      if (blocked === 'workflow') return { done: false, delayMs: 250 + Math.floor(Math.random() * 250) };
      run = { ...run, status: 'running', started_at: startedAt };
    } else if (run.status === 'waiting') {
      await runs.update(db, run.id, { status: 'running' });
      run = { ...run, status: 'running' };
    }

    const state = new RunState(def, neverStarted ? [] : await runs.steps(db, run.id));
    const deadline =
      def.timeout !== undefined ? Date.parse(run.started_at!) + (parseDuration(def.timeout) ?? 0) : undefined;
    const inflight = new Map<string, Promise<void>>();
    const launch = (key: string, work: () => Promise<void>) => {
      const p = work()
        .catch((err: unknown) => this.deps.logger.error({ err, run: run!.id, step: key }, 'step bookkeeping failed'))
        .finally(() => {
          inflight.delete(key);
          a.wake();
        });
      inflight.set(key, p);
    };
    const r = run;

    for (;;) {
      if (a.reason === 'shutdown' || a.reason === 'lease-lost') {
        await Promise.allSettled(inflight.values());
        return { done: false, delayMs: 0 };
      }
      if (a.reason === 'cancel') {
        await Promise.allSettled(inflight.values());
        const fresh = (await runs.get(db, r.id)) ?? r;
        await this.finishRun(fresh, state, 'cancelled', null, {
          code: 'STEP_CANCELLED',
          message: 'The run was cancelled.',
        });
        return { done: true };
      }
      if (deadline !== undefined && Date.now() >= deadline) {
        a.stop('run-timeout');
        await Promise.allSettled(inflight.values());
        await this.finishRun(r, state, 'failed', null, {
          code: 'RUN_TIMEOUT',
          message: `The run ran longer than its timeout (${String(def.timeout)}).`,
        });
        return { done: true };
      }

      const failurePhase = def.steps.some((s) => state.hardFailed(s));
      const phaseSteps = failurePhase ? (def.on_failure ?? []) : def.steps;
      let next: number | undefined = deadline;
      const later = (t: number) => {
        next = next === undefined ? t : Math.min(next, t);
      };

      // In the failure phase, main steps not yet started are skipped; running ones finish first.
      if (failurePhase) {
        for (const s of def.steps) {
          if (state.status(s.id) === 'pending' && !inflight.has(s.id))
            await this.skip(r, state, s, 'an earlier step failed');
        }
      }

      for (const s of phaseSteps) {
        if (a.reason) break;
        const status = state.status(s.id);
        if (TERMINAL_STEP.has(status) || inflight.has(s.id)) continue;
        if (s.foreach !== undefined && (status === 'running' || status === 'pending')) {
          if (status === 'pending' && !this.needsMet(s, state)) {
            if (this.needsBlocked(s, state)) await this.skip(r, state, s, 'a step it needs did not succeed');
            continue;
          }
          await this.driveForeach(r, def, state, s, a, inflight, launch, later);
          continue;
        }
        if (status === 'pending') {
          if (!this.needsMet(s, state)) {
            if (this.needsBlocked(s, state)) await this.skip(r, state, s, 'a step it needs did not succeed');
            continue;
          }
          if (s.if !== undefined) {
            let ok: boolean;
            try {
              ok = this.deps.expressions.condition(s.if, this.data(r, state, failurePhase));
            } catch (err) {
              await this.failStep(r, state, s.id, s.id, -1, stepErrorOf(err));
              continue;
            }
            if (!ok) {
              await this.skip(r, state, s, 'its condition was false');
              continue;
            }
          }
          if (s.wait !== undefined) {
            await this.beginWait(r, state, s);
            const row = state.rows.get(s.id);
            if (row?.next_attempt_at) later(Date.parse(row.next_attempt_at));
            continue;
          }
          if (state.startedCount() >= this.opts.maxStepsPerRun) {
            await this.failStep(r, state, s.id, s.id, -1, limitError(this.opts.maxStepsPerRun));
            continue;
          }
          launch(s.id, () => this.attempt(r, def, state, s, s.id, -1, undefined, a, failurePhase));
          continue;
        }
        if (status === 'running') {
          // Left running by a worker that died: run it again under the same attempt number.
          launch(s.id, () => this.attempt(r, def, state, s, s.id, -1, undefined, a, failurePhase));
          continue;
        }
        if (status === 'retrying' || status === 'waiting') {
          const row = state.rows.get(s.id)!;
          const due = row.next_attempt_at ? Date.parse(row.next_attempt_at) : undefined;
          if (status === 'waiting') {
            const done = await this.checkWait(r, state, s, s.id, row);
            if (done) continue;
          }
          if (due !== undefined && due <= Date.now()) {
            if (status === 'retrying') {
              launch(s.id, () => this.attempt(r, def, state, s, s.id, -1, undefined, a, failurePhase));
            } else await this.finishWaitByTime(r, state, s, s.id, row);
          } else if (due !== undefined) later(due);
        }
      }

      if (inflight.size === 0) {
        const allDone = phaseSteps.every((s) => TERMINAL_STEP.has(state.status(s.id)));
        if (allDone) {
          const mainFailed = def.steps.some((s) => state.hardFailed(s));
          if (!mainFailed) {
            await this.complete(r, def, state);
            return { done: true };
          }
          if (failurePhase || !def.on_failure?.length) {
            const failed = def.steps.find((s) => state.hardFailed(s))!;
            const err = fromJson<{ code?: string; message?: string }>(state.rows.get(failed.id)?.error, {});
            await this.finishRun(r, state, 'failed', null, {
              code: err.code ?? 'TASK_FAILED',
              message: `Step ${failed.id} failed: ${err.message ?? 'unknown error'}`,
              step: failed.id,
            });
            return { done: true };
          }
          // Main steps failed and on_failure steps are all finished: the loop above went to the failure phase.
          continue;
        }
        // Only waits remain.
        const hold = this.opts.holdWaitMs ?? 2000;
        if (next === undefined) {
          await runs.update(db, r.id, { status: 'waiting' });
          return { done: false, delayMs: undefined };
        }
        const wait = next - Date.now();
        if (wait > hold) {
          await runs.update(db, r.id, { status: 'waiting' });
          return { done: false, delayMs: wait };
        }
        await a.sleep(wait);
        if (a.reason === undefined) await this.reloadWaiting(r, state);
        continue;
      }
      await a.sleep(next === undefined ? undefined : next - Date.now());
      if (a.reason === undefined) await this.reloadWaiting(r, state);
    }
  }

  /** Approvals and sub-run results arrive from outside: read waiting rows again. */
  private async reloadWaiting(run: RunsTable, state: RunState): Promise<void> {
    const waiting = [...state.rows.values()].filter((r) => r.status === 'waiting');
    if (waiting.length === 0) return;
    for (const row of await this.deps.runs.steps(this.deps.db, run.id)) {
      if (waiting.some((w) => w.step_key === row.step_key)) state.rows.set(row.step_key, row);
    }
  }

  private needsMet(s: StepDefinition, state: RunState): boolean {
    return (s.needs ?? []).every((n) => {
      const dep = this.stepDef(state.def, n);
      return dep ? state.succeeded(dep) : false;
    });
  }

  private needsBlocked(s: StepDefinition, state: RunState): boolean {
    return (s.needs ?? []).some((n) => {
      const dep = this.stepDef(state.def, n);
      const st = state.status(n);
      return !dep || (TERMINAL_STEP.has(st) && !state.succeeded(dep));
    });
  }

  private stepDef(def: WorkflowDefinition, id: string): StepDefinition | undefined {
    return def.steps.find((s) => s.id === id) ?? def.on_failure?.find((s) => s.id === id);
  }

  private data(run: RunsTable, state: RunState, failurePhase: boolean, extra: Record<string, unknown> = {}) {
    const data: Record<string, unknown> = {
      inputs: fromJson(run.inputs, {}),
      steps: state.stepsView(),
      run: {
        id: run.id,
        workflow_id: run.workflow_id,
        workflow: state.def.name,
        version: run.workflow_version,
        trigger: run.trigger,
      },
      ...extra,
    };
    if (failurePhase) {
      const failed = state.def.steps.find((s) => state.hardFailed(s));
      data.error = failed
        ? { step: failed.id, ...fromJson<Record<string, unknown>>(state.rows.get(failed.id)?.error, {}) }
        : null;
    }
    return data;
  }

  private blankRow(run: RunsTable, key: string, stepId: string, index: number): RunStepsTable {
    return {
      run_id: run.id,
      step_key: key,
      step_id: stepId,
      item_index: index,
      status: 'pending',
      attempts: 0,
      attempt_base: 0,
      output: null,
      error: null,
      next_attempt_at: null,
      approval: null,
      started_at: null,
      finished_at: null,
      updated_at: nowIso(),
    };
  }

  private async putRow(
    trx: DbOrTrx,
    state: RunState,
    run: RunsTable,
    key: string,
    stepId: string,
    index: number,
    fields: Partial<RunStepsTable>,
  ): Promise<RunStepsTable> {
    const row = { ...(state.rows.get(key) ?? this.blankRow(run, key, stepId, index)), ...fields, updated_at: nowIso() };
    await this.deps.runs.putStep(trx, row);
    return row;
  }

  private async skip(run: RunsTable, state: RunState, s: StepDefinition, reason: string): Promise<void> {
    const row = await this.tx(async (trx, emit) => {
      const row = await this.putRow(trx, state, run, s.id, s.id, -1, { status: 'skipped', finished_at: nowIso() });
      await this.event(trx, emit, run, 'step.skipped', s.id, { reason });
      return row;
    });
    state.rows.set(s.id, row);
  }

  private async failStep(
    run: RunsTable,
    state: RunState,
    key: string,
    stepId: string,
    index: number,
    err: StepError,
  ): Promise<void> {
    const row = await this.tx(async (trx, emit) => {
      const row = await this.putRow(trx, state, run, key, stepId, index, {
        status: 'failed',
        error: toJson(errorJson(err)),
        finished_at: nowIso(),
      });
      await this.event(trx, emit, run, 'step.failed', key, { error: errorJson(err) });
      return row;
    });
    state.rows.set(key, row);
  }

  /** One attempt of a task step (or of one foreach item). */
  private async attempt(
    run: RunsTable,
    _def: WorkflowDefinition,
    state: RunState,
    s: StepDefinition,
    key: string,
    index: number,
    item: unknown,
    a: ActiveRun,
    failurePhase: boolean,
  ): Promise<void> {
    const { runs } = this.deps;
    const prev = state.rows.get(key);
    const resumed = prev?.status === 'running';
    const attempt = resumed ? prev.attempts : (prev?.attempts ?? 0) + 1;
    let task = this.deps.tasks.get(s.uses!);
    const extra = index >= 0 ? { item, index } : {};
    let input: unknown;
    let renderError: StepError | undefined;
    try {
      input = this.deps.expressions.render(s.with ?? {}, this.data(run, state, failurePhase, extra));
      if (!task && this.deps.capabilities) {
        // Not a task type: one of the owner's capabilities, resolved now (it may have changed since the save).
        const prepared = await this.deps.capabilities.prepareStep(run.user_id, s.uses!, input, {
          agent: s.agent,
          target: s.target,
        });
        if (prepared.ok) {
          task = this.deps.tasks.get(prepared.taskType);
          input = prepared.input;
        } else renderError = new StepError(prepared.code, prepared.reason, false);
      }
    } catch (err) {
      renderError = stepErrorOf(err);
    }
    if (!task) renderError ??= new StepError('TASK_FAILED', `unknown task type or capability ${s.uses}`, false);
    else if (!renderError && !Value.Check(task.inputSchema, input)) {
      const first = [...Value.Errors(task.inputSchema, input)].find((e) => e.keyword !== 'boolean');
      renderError = new StepError(
        'VALIDATION_FAILED',
        `with${first?.instancePath ?? ''}: ${first?.message ?? 'does not match the task input'}`,
        false,
      );
    }
    const idempotencyKey = `${run.id}:${key}:${attempt}`;
    const attemptId = timeOrderedId();
    const started = Date.now();
    const startedIso = new Date(started).toISOString();
    const attemptRow: StepAttemptsTable = {
      id: attemptId,
      run_id: run.id,
      user_id: run.user_id,
      workflow_id: run.workflow_id,
      step_key: key,
      step_id: s.id,
      attempt,
      status: 'running',
      task_type: s.uses ?? 'wait',
      agent: s.agent ?? null,
      target: s.target ?? null,
      input: input === undefined ? null : toJson(input),
      output: null,
      error: null,
      idempotency_key: idempotencyKey,
      worker_id: this.workerId,
      started_at: startedIso,
      finished_at: null,
      duration_ms: null,
    };
    const startedEvent = { attempt, idempotency_key: idempotencyKey, resumed };
    // The start is committed before the task runs only when the step takes a while (or resumes an
    // interrupted attempt): the attempt number comes from committed attempts either way, so a crash
    // before the result is committed re-runs the same attempt under the same key.
    let startRecorded: Promise<void> | undefined;
    const recordStart = () => {
      startRecorded ??= this.tx(async (trx, emit) => {
        if (resumed) await runs.interruptAttempts(trx, run.id, key);
        const row = await this.putRow(trx, state, run, key, s.id, index, {
          status: 'running',
          attempts: attempt,
          next_attempt_at: null,
          started_at: prev?.started_at ?? startedIso,
        });
        await runs.insertAttempt(trx, attemptRow);
        await this.event(trx, emit, run, 'step.started', key, startedEvent);
        state.rows.set(key, row);
      });
      return startRecorded;
    };
    if (resumed) await recordStart();
    const startTimer = setTimeout(() => void recordStart().catch(() => {}), START_RECORD_AFTER_MS);
    /** Writes the attempt's end (and its start, when that was never recorded) in the caller's transaction. */
    const closeAttempt = async (
      trx: DbOrTrx,
      _emit: (e: StoredEvent) => void,
      fields: Partial<StepAttemptsTable> & { status: string },
    ): Promise<{ type: string; stepKey: string | null; data: Record<string, unknown> }[]> => {
      if (startRecorded) {
        await runs.finishAttempt(trx, attemptId, fields);
        return [];
      }
      await runs.insertAttempt(trx, { ...attemptRow, ...fields });
      // The start event goes out with the end event, in order, in the same write.
      return [{ type: 'step.started', stepKey: key, data: startedEvent }];
    };
    const settleStart = async () => {
      clearTimeout(startTimer);
      if (startRecorded) await startRecorded;
    };

    let output: unknown;
    let failure: StepError | undefined = renderError;
    let parked: { kind: 'person'; message: string } | { kind: 'run'; runId: string } | undefined;
    if (!failure) {
      const stepAbort = new AbortController();
      const onRunAbort = () => stepAbort.abort(a.abort.signal.reason);
      a.abort.signal.addEventListener('abort', onRunAbort, { once: true });
      if (a.abort.signal.aborted) onRunAbort();
      const timeoutMs = s.timeout !== undefined ? parseDuration(s.timeout) : undefined;
      const timer = timeoutMs !== undefined ? setTimeout(() => stepAbort.abort('timeout'), timeoutMs) : undefined;
      try {
        const parentLogger = this.deps.logger;
        let logger: Logger | undefined;
        const ctx: TaskContext = {
          runId: run.id,
          stepId: key,
          attempt,
          idempotencyKey,
          signal: stepAbort.signal,
          userId: run.user_id,
          // Made on first use: most tasks never log, and a child logger per attempt is not free.
          get logger() {
            return (logger ??= parentLogger.child({ run: run.id, step: key, attempt }));
          },
          services: { ...this.deps.services(), run: { depth: run.depth, workflowId: run.workflow_id } },
          ...(s.agent ? { agent: s.agent } : {}),
          ...(s.target ? { target: s.target } : {}),
        };
        output = await raceAbort(task!.run(input, ctx), stepAbort.signal);
        const size = Buffer.byteLength(toJson(output));
        if (size > this.opts.maxStepOutputBytes) {
          failure = new StepError(
            'TASK_FAILED',
            `output is ${size} bytes; the limit is ${this.opts.maxStepOutputBytes}`,
            false,
          );
        }
      } catch (err) {
        const reason = stepAbort.signal.aborted ? (stepAbort.signal.reason as string) : undefined;
        if (reason === 'shutdown' || reason === 'lease-lost') {
          // Resumes elsewhere under the same key.
          await settleStart().catch(() => {});
          return;
        }
        if (err instanceof WaitForPersonError) parked = { kind: 'person', message: err.message };
        else if (err instanceof WaitForRunError) parked = { kind: 'run', runId: err.runId };
        else if (reason === 'cancel') failure = new StepError('STEP_CANCELLED', 'The run was cancelled.', false);
        else if (reason === 'run-timeout') failure = new StepError('RUN_TIMEOUT', 'The run timed out.', false);
        else if (reason === 'timeout') {
          failure = new StepError('STEP_TIMEOUT', `The step ran longer than ${String(s.timeout)}.`, true);
        } else failure = stepErrorOf(err);
      } finally {
        if (timer) clearTimeout(timer);
        a.abort.signal.removeEventListener('abort', onRunAbort);
      }
    }
    const finished = Date.now();
    await settleStart();
    const finishedIso = new Date(finished).toISOString();
    const common = { finished_at: finishedIso, duration_ms: finished - started };
    const rowBase = { attempts: attempt, started_at: prev?.started_at ?? startedIso };

    if (parked) {
      const approval =
        parked.kind === 'person'
          ? { kind: 'person', message: parked.message, requested_at: finishedIso }
          : { kind: 'run', run_id: parked.runId };
      const next = await this.tx(async (trx, emit) => {
        const pre = await closeAttempt(trx, emit, { status: 'waiting', ...common });
        const next = await this.putRow(trx, state, run, key, s.id, index, {
          ...rowBase,
          status: 'waiting',
          approval: toJson(approval),
        });
        await this.eventWith(trx, emit, run, pre, 'step.waiting', key, approval);
        return next;
      });
      state.rows.set(key, next);
      return;
    }
    if (!failure) {
      const next = await this.tx(async (trx, emit) => {
        const pre = await closeAttempt(trx, emit, { status: 'completed', output: toJson(output), ...common });
        const next = await this.putRow(trx, state, run, key, s.id, index, {
          ...rowBase,
          status: 'completed',
          output: toJson(output),
          error: null,
          finished_at: finishedIso,
        });
        await this.eventWith(trx, emit, run, pre, 'step.completed', key, { attempt, duration_ms: common.duration_ms });
        return next;
      });
      state.rows.set(key, next);
      return;
    }
    const policy = s.retry;
    const base = prev?.attempt_base ?? 0;
    const canRetry =
      failure.retryable &&
      policy !== undefined &&
      attempt - base < policy.max_attempts &&
      (policy.on === undefined || policy.on.includes(failure.code));
    const err = errorJson(failure);
    if (canRetry) {
      const delay = failure.retryAfterMs ?? backoffDelay(policy, attempt - base);
      const at = new Date(Date.now() + delay).toISOString();
      const next = await this.tx(async (trx, emit) => {
        const pre = await closeAttempt(trx, emit, { status: 'failed', error: toJson(err), ...common });
        const next = await this.putRow(trx, state, run, key, s.id, index, {
          ...rowBase,
          status: 'retrying',
          error: toJson(err),
          next_attempt_at: at,
        });
        await this.eventWith(trx, emit, run, pre, 'step.retrying', key, { attempt, error: err, next_attempt_at: at });
        return next;
      });
      state.rows.set(key, next);
      return;
    }
    const status = failure.code === 'STEP_CANCELLED' ? 'cancelled' : 'failed';
    const next = await this.tx(async (trx, emit) => {
      const pre = await closeAttempt(trx, emit, { status, error: toJson(err), ...common });
      const next = await this.putRow(trx, state, run, key, s.id, index, {
        ...rowBase,
        status,
        error: toJson(err),
        finished_at: finishedIso,
      });
      await this.eventWith(trx, emit, run, pre, status === 'cancelled' ? 'step.cancelled' : 'step.failed', key, {
        attempt,
        error: err,
      });
      return next;
    });
    state.rows.set(key, next);
  }

  private async driveForeach(
    run: RunsTable,
    def: WorkflowDefinition,
    state: RunState,
    s: StepDefinition,
    a: ActiveRun,
    inflight: Map<string, Promise<void>>,
    launch: (key: string, work: () => Promise<void>) => void,
    later: (t: number) => void,
  ): Promise<void> {
    const failurePhase = def.steps.some((x) => state.hardFailed(x));
    const data = this.data(run, state, failurePhase);
    if (state.status(s.id) === 'pending' && s.if !== undefined) {
      try {
        if (!this.deps.expressions.condition(s.if, data)) return this.skip(run, state, s, 'its condition was false');
      } catch (err) {
        return this.failStep(run, state, s.id, s.id, -1, stepErrorOf(err));
      }
    }
    // Items come only from inputs and finished steps, so evaluating again after a restart gives the same list.
    let items: unknown;
    try {
      items = typeof s.foreach === 'string' ? evaluateForeach(this.deps.expressions, s.foreach, data) : s.foreach;
    } catch (err) {
      return this.failStep(run, state, s.id, s.id, -1, stepErrorOf(err));
    }
    if (!Array.isArray(items)) {
      return this.failStep(
        run,
        state,
        s.id,
        s.id,
        -1,
        new StepError('EXPRESSION_FAILED', 'foreach must give a list', false),
      );
    }
    if (items.length > this.opts.maxForeachItems) {
      return this.failStep(
        run,
        state,
        s.id,
        s.id,
        -1,
        new StepError(
          'FOREACH_TOO_LARGE',
          `foreach has ${items.length} items; the limit is ${this.opts.maxForeachItems}`,
          false,
        ),
      );
    }
    if (state.status(s.id) === 'pending') {
      const row = await this.tx(async (trx, emit) => {
        const row = await this.putRow(trx, state, run, s.id, s.id, -1, { status: 'running', started_at: nowIso() });
        await this.event(trx, emit, run, 'step.started', s.id, { items: items.length });
        return row;
      });
      state.rows.set(s.id, row);
    }
    const cap = s.concurrency ?? 10;
    let running = 0;
    for (let i = 0; i < items.length; i++) if (inflight.has(stepKey(s.id, i))) running++;
    let allDone = true;
    let failed: RunStepsTable | undefined;
    for (let i = 0; i < items.length; i++) {
      const key = stepKey(s.id, i);
      const st = state.status(key);
      if (TERMINAL_STEP.has(st)) {
        if (st !== 'completed' && !failed) failed = state.rows.get(key);
        continue;
      }
      allDone = false;
      if (inflight.has(key) || a.reason) continue;
      const row = state.rows.get(key);
      const due = row?.next_attempt_at ? Date.parse(row.next_attempt_at) : undefined;
      if (st === 'retrying' && due !== undefined && due > Date.now()) {
        later(due);
        continue;
      }
      if (st === 'waiting') {
        await this.checkWait(run, state, s, key, row!);
        continue;
      }
      if (running >= cap) continue;
      if (st === 'pending' && state.startedCount() >= this.opts.maxStepsPerRun) {
        await this.failStep(run, state, key, s.id, i, limitError(this.opts.maxStepsPerRun));
        continue;
      }
      running++;
      launch(key, () => this.attempt(run, def, state, s, key, i, items[i], a, failurePhase));
    }
    if (!allDone) return;
    // Every item finished: the step's output is the list of item outputs, in order.
    const itemRows = state.items(s.id);
    const row = await this.tx(async (trx, emit) => {
      if (failed) {
        const err = { code: 'TASK_FAILED', message: `item ${failed.item_index} failed`, item: failed.item_index };
        const row = await this.putRow(trx, state, run, s.id, s.id, -1, {
          status: 'failed',
          error: toJson(err),
          finished_at: nowIso(),
        });
        await this.event(trx, emit, run, 'step.failed', s.id, { error: err });
        return row;
      }
      const output = itemRows.map((r) => fromJson(r.output, null));
      const row = await this.putRow(trx, state, run, s.id, s.id, -1, {
        status: 'completed',
        output: toJson(output),
        finished_at: nowIso(),
      });
      await this.event(trx, emit, run, 'step.completed', s.id, { items: itemRows.length });
      return row;
    });
    state.rows.set(s.id, row);
  }

  private async beginWait(run: RunsTable, state: RunState, s: StepDefinition): Promise<void> {
    const w = s.wait!;
    const now = Date.now();
    const approval = typeof w === 'object' ? { kind: 'approval', message: w.approval.message ?? null } : null;
    const timeout =
      typeof w === 'object' ? (w.timeout !== undefined ? parseDuration(w.timeout) : undefined) : parseDuration(w);
    const at = timeout !== undefined ? new Date(now + timeout).toISOString() : null;
    const row = await this.tx(async (trx, emit) => {
      const row = await this.putRow(trx, state, run, s.id, s.id, -1, {
        status: 'waiting',
        started_at: new Date(now).toISOString(),
        next_attempt_at: at,
        approval: approval ? toJson({ ...approval, requested_at: new Date(now).toISOString() }) : null,
      });
      await this.event(trx, emit, run, 'step.waiting', s.id, approval ?? { until: at });
      return row;
    });
    state.rows.set(s.id, row);
  }

  /** A `wait: <duration>` step is done when its time comes; an approval that times out fails. */
  private async finishWaitByTime(
    run: RunsTable,
    state: RunState,
    s: StepDefinition,
    key: string,
    row: RunStepsTable,
  ): Promise<void> {
    const approval = fromJson<{ kind?: string } | null>(row.approval, null);
    if (approval?.kind) {
      return this.failStep(
        run,
        state,
        key,
        s.id,
        row.item_index,
        new StepError('STEP_TIMEOUT', 'No one answered in time.', false),
      );
    }
    const next = await this.tx(async (trx, emit) => {
      const next = await this.putRow(trx, state, run, key, s.id, row.item_index, {
        status: 'completed',
        output: toJson({ waited_ms: Date.now() - Date.parse(row.started_at ?? nowIso()) }),
        finished_at: nowIso(),
      });
      await this.event(trx, emit, run, 'step.completed', key, {});
      return next;
    });
    state.rows.set(key, next);
  }

  /** Whether a step parked on a sub-run can finish now (the sub-run ended). */
  private async checkWait(
    run: RunsTable,
    state: RunState,
    s: StepDefinition,
    key: string,
    row: RunStepsTable,
  ): Promise<boolean> {
    const approval = fromJson<{ kind?: string; run_id?: string } | null>(row.approval, null);
    if (approval?.kind !== 'run' || !approval.run_id) return false;
    const child = await this.deps.runs.get(this.deps.db, approval.run_id);
    if (!child || !['completed', 'failed', 'cancelled'].includes(child.status)) return false;
    if (child.status === 'completed') {
      const next = await this.tx(async (trx, emit) => {
        await trx
          .updateTable('step_attempts')
          .set({ status: 'completed', output: child.outputs })
          .where('run_id', '=', run.id)
          .where('step_key', '=', key)
          .where('status', '=', 'waiting')
          .execute();
        const next = await this.putRow(trx, state, run, key, s.id, row.item_index, {
          status: 'completed',
          output: toJson({ run_id: child.id, outputs: fromJson(child.outputs, {}) }),
          finished_at: nowIso(),
        });
        await this.event(trx, emit, run, 'step.completed', key, { run_id: child.id });
        return next;
      });
      state.rows.set(key, next);
    } else {
      const e = fromJson<{ code?: string; message?: string }>(child.error, {});
      await this.failStep(
        run,
        state,
        key,
        s.id,
        row.item_index,
        new StepError(
          e.code ?? 'TASK_FAILED',
          `sub-workflow run ${child.id} ${child.status}: ${e.message ?? ''}`,
          false,
        ),
      );
    }
    return true;
  }

  private async complete(run: RunsTable, def: WorkflowDefinition, state: RunState): Promise<void> {
    let outputs: unknown = {};
    try {
      outputs = def.outputs ? this.deps.expressions.render(def.outputs, this.data(run, state, false)) : {};
    } catch (err) {
      const e = stepErrorOf(err);
      await this.finishRun(run, state, 'failed', null, { code: e.code, message: `outputs: ${e.message}` });
      return;
    }
    await this.finishRun(run, state, 'completed', outputs, null);
  }

  private async finishRun(
    run: RunsTable,
    state: RunState,
    status: 'completed' | 'failed' | 'cancelled',
    outputs: unknown,
    error: Record<string, unknown> | null,
  ): Promise<void> {
    const now = nowIso();
    const duration = run.started_at ? Date.now() - Date.parse(run.started_at) : 0;
    const open = [...state.rows.values()].filter((r) => !TERMINAL_STEP.has(r.status));
    // Steps that never started get a row too, so the run shows how each one ended.
    for (const s of [...state.def.steps, ...(state.def.on_failure ?? [])]) {
      if (!state.rows.has(s.id)) open.push(this.blankRow(run, s.id, s.id, -1));
    }
    await this.tx(async (trx, emit) => {
      for (const r of open) {
        const row = {
          ...r,
          status: status === 'cancelled' ? 'cancelled' : 'skipped',
          finished_at: now,
          updated_at: now,
        };
        await this.deps.runs.putStep(trx, row);
        state.rows.set(r.step_key, row);
      }
      await this.deps.runs.closeOpenAttempts(trx, run.id, 'cancelled', now);
      await this.deps.runs.update(trx, run.id, {
        status,
        outputs: outputs === null ? null : toJson(outputs),
        error: error ? toJson(error) : null,
        finished_at: now,
        duration_ms: duration,
      });
      await this.event(trx, emit, run, `run.${status}`, null, {
        duration_ms: duration,
        ...(error ? { error } : {}),
        ...(outputs !== null ? { outputs } : {}),
      });
    });
    // A cancelled parent cancels its sub-runs; a finished sub-run wakes its parent.
    if (status === 'cancelled') {
      for (const child of await this.deps.runs.children(this.deps.db, run.id)) {
        if (['completed', 'failed', 'cancelled'].includes(child.status)) continue;
        await this.deps.runs.update(this.deps.db, child.id, { cancel_requested: 1 });
        await this.deps.queue.enqueue(RUN_QUEUE, child.id, { run_id: child.id });
        await this.deps.bus.publish('engine', { type: 'cancel', run_id: child.id });
      }
    }
    if (run.parent_run_id) {
      await this.deps.queue.enqueue(RUN_QUEUE, run.parent_run_id, { run_id: run.parent_run_id });
      await this.deps.bus.publish('engine', { type: 'wake', run_id: run.parent_run_id });
    }
  }
}

function evaluateForeach(expressions: Expressions, source: string, data: Record<string, unknown>): unknown {
  const m = /^\s*\$\{\{([\s\S]*?)\}\}\s*$/.exec(source);
  return expressions.evaluate(m ? m[1]! : source, data);
}

/** Per transaction: active-run counts already read in it, with the starts it made since. */
const activeCounts = new WeakMap<object, Map<string, number>>();
function activeCountsOf(trx: object): Map<string, number> {
  let m = activeCounts.get(trx);
  if (!m) activeCounts.set(trx, (m = new Map()));
  return m;
}

function limitError(max: number): StepError {
  return new StepError('RUN_STEP_LIMIT', `The run reached the limit of ${max} steps.`, false);
}

function errorJson(e: StepError): Record<string, unknown> {
  return { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) };
}

/** What the engine makes of a thrown error: fatal, retry later, or retryable by policy. */
export function stepErrorOf(err: unknown): StepError {
  if (err instanceof StepError) return err;
  if (err instanceof FatalTaskError) return new StepError(err.code, err.message, false, err.details);
  if (err instanceof RetryLaterError) return new StepError(err.code, err.message, true, undefined, err.delayMs);
  if (err instanceof ExpressionError)
    return new StepError('EXPRESSION_FAILED', `${err.message} in "${err.expression.trim()}"`, false);
  if (isAppError(err)) {
    // Bad input and refusals do not get better by retrying; upstream trouble might.
    const retryable = err.status >= 500 || err.status === 429 || err.status === 408;
    const after = err.headers?.['retry-after'];
    return new StepError(
      err.code,
      err.message,
      retryable,
      err.details,
      after !== undefined && /^\d+$/.test(after) ? Number(after) * 1000 : undefined,
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new StepError('TASK_FAILED', message, true);
}

/** Rejects as soon as the signal fires, even if the task ignores it. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error(String(signal.reason)));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error(String(signal.reason)));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
