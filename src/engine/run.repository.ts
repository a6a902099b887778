import { sql } from 'kysely';
import { precompiled, precompiledByShape } from '../db/precompiled.js';
import type { DbOrTrx, Dialect } from '../db/database.js';
import { toJson } from '../db/json.js';
import { nowIso } from '../db/time.js';
import type { RunEventsTable, RunsTable, RunStepsTable, StepAttemptsTable } from '../workflows/workflows.tables.js';

export const TERMINAL_RUN = ['completed', 'failed', 'cancelled'] as const;
export const ACTIVE_RUN = ['running', 'waiting'] as const;

export interface RunFilters {
  workflowId?: string | undefined;
  status?: string | undefined;
  since?: string | undefined;
  limit: number;
  after?: { k: string; id: string } | undefined;
}

// The statements every step runs (see the engine benchmark), built and compiled once instead of per call.
const upsertStep = precompiledByShape((db: DbOrTrx, row: RunStepsTable) => {
  const { run_id: _r, step_key: _k, ...rest } = row;
  return db
    .insertInto('run_steps')
    .values(row)
    .onConflict((oc) => oc.columns(['run_id', 'step_key']).doUpdateSet(rest));
});
const insertAttemptRow = precompiledByShape((db: DbOrTrx, row: StepAttemptsTable) =>
  db.insertInto('step_attempts').values(row),
);
const updateAttempt = precompiledByShape((db: DbOrTrx, fields: Partial<StepAttemptsTable>, id: string) =>
  db.updateTable('step_attempts').set(fields).where('id', '=', id),
);
const addEventSeq = precompiled((db: DbOrTrx, runId: string, n: number) =>
  db
    .updateTable('runs')
    .set((eb) => ({ event_seq: eb('event_seq', '+', n) }))
    .where('id', '=', runId)
    .returning('event_seq'),
);
// Counts at most `upTo` rows: a user with thousands of active runs does not make every start read all of them.
const countActiveOfUser = precompiled((db: DbOrTrx, userId: string, upTo: number) =>
  db
    .selectFrom((eb) =>
      eb
        .selectFrom('runs')
        .select('id')
        .where('user_id', '=', userId)
        .where('status', 'in', [...ACTIVE_RUN])
        .limit(upTo)
        .as('active'),
    )
    .select((eb) => eb.fn.countAll<number>().as('n')),
);
const updateRun = precompiledByShape((db: DbOrTrx, fields: Partial<RunsTable>, id: string) =>
  db.updateTable('runs').set(fields).where('id', '=', id),
);
const selectRun = precompiled((db: DbOrTrx, id: string) => db.selectFrom('runs').selectAll().where('id', '=', id));
const selectSteps = precompiled((db: DbOrTrx, runId: string) =>
  db.selectFrom('run_steps').selectAll().where('run_id', '=', runId),
);
const closeOpenAttempts = precompiled((db: DbOrTrx, runId: string, status: string, at: string) =>
  db
    .updateTable('step_attempts')
    .set({ status, finished_at: at })
    .where('run_id', '=', runId)
    .where('status', 'in', ['running', 'waiting']),
);
const insertEvent = precompiledByShape((db: DbOrTrx, row: RunEventsTable) => db.insertInto('run_events').values(row));

/** All SQL of runs, their steps, attempts and events. Reads of a user's run are scoped by owner. */
export class RunRepository {
  constructor(private readonly dialect: Dialect = 'sqlite') {}

  /**
   * Serialises run starts per user and per workflow until the transaction ends, so that the concurrency limits
   * (counted, then transitioned, in that transaction) hold across workers: on PostgreSQL with transaction-scoped
   * advisory locks, taken in a fixed order; a SQLite database has one writer at a time already.
   */
  async lockRunStarts(trx: DbOrTrx, userId: string, workflowId?: string): Promise<void> {
    if (this.dialect !== 'postgres') return;
    const keys = [
      `clarion.run-start.user:${userId}`,
      ...(workflowId ? [`clarion.run-start.workflow:${workflowId}`] : []),
    ];
    for (const key of keys) await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
  }

  async insertRun(db: DbOrTrx, row: RunsTable): Promise<void> {
    await db.insertInto('runs').values(row).execute();
  }

  async find(db: DbOrTrx, userId: string, id: string): Promise<RunsTable | undefined> {
    return db.selectFrom('runs').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  }

  /** Unscoped: the engine acts on runs it has claimed. */
  async get(db: DbOrTrx, id: string): Promise<RunsTable | undefined> {
    return (await selectRun(db, id)).rows[0];
  }

  /** Several runs at once, by id (unscoped, as `get`): the runs of one claim. */
  async getMany(db: DbOrTrx, ids: string[]): Promise<Map<string, RunsTable>> {
    if (ids.length === 0) return new Map();
    const rows = await db.selectFrom('runs').selectAll().where('id', 'in', ids).execute();
    return new Map(rows.map((r) => [r.id, r]));
  }

  async findByIdempotencyKey(
    db: DbOrTrx,
    userId: string,
    workflowId: string,
    key: string,
  ): Promise<RunsTable | undefined> {
    return db
      .selectFrom('runs')
      .selectAll()
      .where('user_id', '=', userId)
      .where('workflow_id', '=', workflowId)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
  }

  async list(db: DbOrTrx, userId: string, f: RunFilters): Promise<RunsTable[]> {
    let q = db.selectFrom('runs').selectAll().where('user_id', '=', userId);
    if (f.workflowId) q = q.where('workflow_id', '=', f.workflowId);
    if (f.status) q = q.where('status', '=', f.status);
    if (f.since) q = q.where('created_at', '>=', f.since);
    if (f.after) {
      const a = f.after;
      q = q.where((eb) =>
        eb.or([eb('created_at', '<', a.k), eb.and([eb('created_at', '=', a.k), eb('id', '<', a.id)])]),
      );
    }
    return q
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(f.limit + 1)
      .execute();
  }

  async update(db: DbOrTrx, id: string, fields: Partial<RunsTable>): Promise<void> {
    await updateRun(db, { ...fields, updated_at: nowIso() }, id);
  }

  async children(db: DbOrTrx, parentRunId: string): Promise<RunsTable[]> {
    return db.selectFrom('runs').selectAll().where('parent_run_id', '=', parentRunId).execute();
  }

  /** How many of the user's runs are active, counting no further than `upTo` (the limit it is compared with). */
  async countActiveForUser(db: DbOrTrx, userId: string, upTo: number): Promise<number> {
    const [r] = (await countActiveOfUser(db, userId, upTo)).rows;
    return Number(r?.n ?? 0);
  }

  async countActiveForWorkflow(db: DbOrTrx, workflowId: string): Promise<number> {
    const r = await db
      .selectFrom('runs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('workflow_id', '=', workflowId)
      .where('status', 'in', [...ACTIVE_RUN])
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async cancelRequested(db: DbOrTrx, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await db
      .selectFrom('runs')
      .select('id')
      .where('id', 'in', ids)
      .where('cancel_requested', '=', 1)
      .execute();
    return rows.map((r) => r.id);
  }

  async steps(db: DbOrTrx, runId: string): Promise<RunStepsTable[]> {
    return (await selectSteps(db, runId)).rows;
  }

  async step(db: DbOrTrx, runId: string, key: string): Promise<RunStepsTable | undefined> {
    return db
      .selectFrom('run_steps')
      .selectAll()
      .where('run_id', '=', runId)
      .where('step_key', '=', key)
      .executeTakeFirst();
  }

  async putStep(db: DbOrTrx, row: RunStepsTable): Promise<void> {
    await upsertStep(db, row);
  }

  async deleteSteps(db: DbOrTrx, runId: string, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await db.deleteFrom('run_steps').where('run_id', '=', runId).where('step_key', 'in', keys).execute();
  }

  async insertAttempt(db: DbOrTrx, row: StepAttemptsTable): Promise<void> {
    await insertAttemptRow(db, row);
  }

  async finishAttempt(db: DbOrTrx, id: string, fields: Partial<StepAttemptsTable>): Promise<void> {
    await updateAttempt(db, fields, id);
  }

  /** Ends a finishing run's attempts still running or waiting, with `status` (cancelled). */
  async closeOpenAttempts(db: DbOrTrx, runId: string, status: string, at: string): Promise<void> {
    await closeOpenAttempts(db, runId, status, at);
  }

  /** Marks attempts a crashed worker left running (they run again under the same key). */
  async interruptAttempts(db: DbOrTrx, runId: string, key: string): Promise<void> {
    await db
      .updateTable('step_attempts')
      .set({ status: 'interrupted', finished_at: nowIso() })
      .where('run_id', '=', runId)
      .where('step_key', '=', key)
      .where('status', '=', 'running')
      .execute();
  }

  async attempts(db: DbOrTrx, runId: string): Promise<StepAttemptsTable[]> {
    return db
      .selectFrom('step_attempts')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('started_at')
      .orderBy('attempt')
      .execute();
  }

  /** Appends an event with the run's next sequence number; call inside the transaction of the change. */
  async appendEvent(
    db: DbOrTrx,
    run: { id: string; user_id: string; workflow_id: string },
    type: string,
    stepKey: string | null,
    data: Record<string, unknown>,
  ): Promise<RunEventsTable> {
    return (await this.appendEvents(db, run, [{ type, stepKey, data }]))[0]!;
  }

  /** Appends several events at once (one sequence bump, one insert). */
  async appendEvents(
    db: DbOrTrx,
    run: { id: string; user_id: string; workflow_id: string },
    events: { type: string; stepKey: string | null; data: Record<string, unknown> }[],
  ): Promise<RunEventsTable[]> {
    if (events.length === 0) return [];
    const [r] = (await addEventSeq(db, run.id, events.length)).rows;
    if (!r) throw new Error(`run ${run.id} not found`);
    const first = Number(r.event_seq) - events.length + 1;
    const at = nowIso();
    const rows: RunEventsTable[] = events.map((e, i) => ({
      run_id: run.id,
      seq: first + i,
      user_id: run.user_id,
      workflow_id: run.workflow_id,
      type: e.type,
      step_key: e.stepKey,
      data: toJson(e.data),
      created_at: at,
    }));
    // One precompiled single-row insert each: a call appends one to three events, and building a multi-row
    // insert with Kysely cost more than running the prepared statement again.
    for (const row of rows) await insertEvent(db, row);
    return rows;
  }

  async events(db: DbOrTrx, runId: string, afterSeq: number, limit: number): Promise<RunEventsTable[]> {
    return db
      .selectFrom('run_events')
      .selectAll()
      .where('run_id', '=', runId)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
  }
}
