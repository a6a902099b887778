import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testDialects } from '../../test/helpers/databases.js';
import { insertTestUser, openTestDatabase } from '../../test/helpers/test-database.js';
import type { Principal } from '../auth/principal.js';
import type { Database, DbOrTrx } from '../db/database.js';
import { nowIso } from '../db/time.js';
import { BudgetService } from './budget.service.js';
import { LlmRepository } from './llm.repository.js';
import type { BudgetsTable } from './llm.tables.js';

/** The real repository, with a way to hold a spend query's answer back (a check that reads spend slowly). */
class GatedRepository extends LlmRepository {
  gate: Promise<void> | undefined;
  reading: (() => void) | undefined;
  /** Spend reads so far. */
  reads = 0;

  override async spentSince(db: DbOrTrx, scope: 'user' | 'api_key', subjectId: string, since: string) {
    this.reads++;
    const spent = await super.spentSince(db, scope, subjectId, since);
    this.reading?.();
    if (this.gate) await this.gate;
    return spent;
  }
}

/** A day budget on `user`, as an admin would set it. */
function dailyUserBudget(
  user: string,
  limits: { max_tokens?: number; max_cost?: number; max_request_tokens?: number },
): BudgetsTable {
  const now = nowIso();
  return {
    id: randomUUID(),
    scope: 'user',
    subject_id: user,
    user_id: user,
    api_key_id: null,
    period: 'day',
    max_tokens: limits.max_tokens ?? null,
    max_cost: limits.max_cost ?? null,
    max_request_tokens: limits.max_request_tokens ?? null,
    set_by: 'admin',
    created_at: now,
    updated_at: now,
  };
}

const admin = { userId: 'admin', role: 'admin', permissions: new Set(['budget:manage']) } as unknown as Principal;

describe.each(testDialects())('BudgetService reservations (%s)', (dialect) => {
  let database: Database;
  let close: () => Promise<void>;
  let repo: GatedRepository;
  let budgets: BudgetService;
  const user = randomUUID();
  const ctx = { userId: user };

  const setBudget = async (fields: { max_tokens?: number; max_cost?: number }) => {
    await repo.upsertBudget(database.db, dailyUserBudget(user, fields));
    await budgets.load();
  };

  const row = (tokens: number) => ({
    id: randomUUID(),
    created_at: nowIso(),
    user_id: user,
    api_key_id: null,
    agent_id: null,
    run_id: null,
    step_id: null,
    kind: 'chat',
    provider: 'p',
    model: 'm',
    prompt_tokens: tokens,
    completion_tokens: 0,
    cost: 0,
    latency_ms: 1,
    ttft_ms: null,
    cache_hit: 0,
    stream: 0,
    outcome: 'ok',
    error_code: null,
  });
  /** A row written by another process: in the table, never noted by this BudgetService. */
  const otherProcessRow = (tokens: number) => row(tokens);
  /** A usage row written as LlmService writes one: then noted in the budgets' spend counters. */
  let writes = 0;
  const usageRow = (tokens: number) => {
    const seq = ++writes;
    const rows = [row(tokens)];
    return repo.insertUsage(database.db, rows).then(() => budgets.noteSpent(seq, rows));
  };

  const reserved = async () => (await budgets.list(admin))[0]!.reserved_tokens;

  beforeEach(async () => {
    ({ database, close } = await openTestDatabase(dialect));
    await insertTestUser(database.db, user);
    repo = new GatedRepository();
    // Every check reads spend from the usage table (the race below is about such a read).
    budgets = new BudgetService(
      database.db,
      repo,
      async () => {},
      () => writes,
      0,
    );
  });
  afterEach(async () => close());

  it('reserves nothing and estimates nothing when no budget applies', async () => {
    let estimated = false;
    const hold = await budgets.reserve(ctx, () => {
      estimated = true;
      return { tokens: 1, cost: 0 };
    });
    expect(hold).toBeUndefined();
    expect(estimated).toBe(false);
  });

  it('counts calls in flight against a token budget until they are released', async () => {
    await setBudget({ max_tokens: 200 });
    const need = () => ({ tokens: 110, cost: 0 });
    const a = await budgets.reserve(ctx, need);
    const b = await budgets.reserve(ctx, need);
    await expect(budgets.reserve(ctx, need)).rejects.toMatchObject({
      code: 'BUDGET_EXCEEDED',
      details: { used_tokens: 0, reserved_tokens: 220 },
    });
    expect(await reserved()).toBe(220);
    a!.release();
    a!.release(); // a second release changes nothing
    expect(await reserved()).toBe(110);
    const c = await budgets.reserve(ctx, need);
    b!.release();
    c!.release();
    expect(await reserved()).toBe(0);
  });

  it('counts calls in flight against a cost budget', async () => {
    await setBudget({ max_cost: 1 });
    const a = await budgets.reserve(ctx, () => ({ tokens: 0, cost: 0.6 }));
    const b = await budgets.reserve(ctx, () => ({ tokens: 0, cost: 0.6 }));
    await expect(budgets.reserve(ctx, () => ({ tokens: 0, cost: 0.01 }))).rejects.toMatchObject({
      code: 'BUDGET_EXCEEDED',
      details: { reserved_cost: 1.2 },
    });
    a!.release();
    b!.release();
    expect((await budgets.list(admin))[0]).toMatchObject({ reserved_tokens: 0, reserved_cost: 0 });
  });

  it('counts usage written since its last read without reading again, and reads again after the refresh', async () => {
    const cached = new BudgetService(
      database.db,
      repo,
      async () => {},
      () => writes,
      200,
    );
    budgets = cached;
    await setBudget({ max_tokens: 100 });
    const a = await cached.reserve(ctx, () => ({ tokens: 10, cost: 0 }));
    expect(repo.reads).toBe(1);
    const first = usageRow(60);
    a!.release(first);
    await first;
    (await cached.reserve(ctx, () => ({ tokens: 1, cost: 0 })))!.release();
    await usageRow(40);
    // Both rows reached the counter: 100 spent, without a second read.
    await expect(cached.reserve(ctx, () => ({ tokens: 1, cost: 0 }))).rejects.toMatchObject({
      details: { used_tokens: 100, reserved_tokens: 0 },
    });
    expect(repo.reads).toBe(1);
    // A row another process wrote (never noted here) counts from the next read.
    await setBudget({ max_tokens: 200 });
    await repo.insertUsage(database.db, [otherProcessRow(100)]);
    (await cached.reserve(ctx, () => ({ tokens: 1, cost: 0 })))!.release();
    expect(repo.reads).toBe(1);
    await new Promise((r) => setTimeout(r, 250));
    await expect(cached.reserve(ctx, () => ({ tokens: 1, cost: 0 }))).rejects.toMatchObject({
      details: { used_tokens: 200 },
    });
    expect(repo.reads).toBe(2);
  });

  it('keeps a released call counted for a check that read spend before its usage row was written', async () => {
    await setBudget({ max_tokens: 100 });
    const a = await budgets.reserve(ctx, () => ({ tokens: 110, cost: 0 }));
    // B's check reads spend (nothing yet) and is held there.
    let open!: () => void;
    repo.gate = new Promise<void>((r) => (open = r));
    const read = new Promise<void>((r) => (repo.reading = r));
    const b = budgets.reserve(ctx, () => ({ tokens: 10, cost: 0 }));
    await read;
    repo.gate = undefined;
    repo.reading = undefined;
    // A ends: its row is written after B read spend, and its reservation ends once the row is there.
    const written = usageRow(150);
    a!.release(written);
    await written;
    await new Promise((r) => setImmediate(r));
    open();
    // Without A's reservation B would see neither A's row nor A in flight, and pass. (It sees A in flight, and
    // A's row too: noted while B's read was in flight, it is added to what B read.)
    await expect(b).rejects.toMatchObject({ code: 'BUDGET_EXCEEDED', details: { reserved_tokens: 110 } });
    // A later check sees A's row as spent, and nothing is left reserved.
    await expect(budgets.reserve(ctx, () => ({ tokens: 1, cost: 0 }))).rejects.toMatchObject({
      details: { used_tokens: 150, reserved_tokens: 0 },
    });
    expect(await reserved()).toBe(0);
  });
});

/** The real repository, with every user existing and a way to hold a budgets read back. */
class NodeRepository extends LlmRepository {
  /** Holds the next read's answer back until it resolves. */
  gate: Promise<void> | undefined;
  /** Fails the next read. */
  fail = false;
  lists = 0;

  override async userExists(): Promise<boolean> {
    return true;
  }

  /** Runs once at the start of the next list: another node's write landing between a change and its reload. */
  beforeList: (() => Promise<unknown>) | undefined;

  override async listBudgets(db: DbOrTrx) {
    const before = this.beforeList;
    this.beforeList = undefined;
    await before?.();
    this.lists++;
    const gate = this.gate;
    this.gate = undefined;
    if (this.fail) {
      this.fail = false;
      throw new Error('database unreachable');
    }
    const rows = await super.listBudgets(db);
    if (gate) await gate;
    return rows;
  }
}

describe.each(testDialects())('BudgetService on several nodes (%s)', (dialect) => {
  let database: Database;
  let close: () => Promise<void>;
  let repo: NodeRepository;
  const user = randomUUID();
  const ctx = { userId: user };
  const node = () => new BudgetService(database.db, repo, async () => {});

  beforeEach(async () => {
    ({ database, close } = await openTestDatabase(dialect));
    await insertTestUser(database.db, user);
    repo = new NodeRepository();
  });
  afterEach(async () => close());

  it('announces each change it commits, before its own reload; another node sees it when it reloads', async () => {
    const a = node();
    const b = node();
    await a.load();
    await b.load();
    // What A held when it announced: the announcement comes before A's own reload.
    const seenAtAnnounce: (number | undefined)[] = [];
    a.reloads.setAnnouncer(() => seenAtAnnounce.push(a.requestCeiling(ctx)));

    const set = await a.put(admin, { scope: 'user', subject_id: user, period: 'day', max_request_tokens: 100 });
    expect(seenAtAnnounce).toEqual([undefined]);
    expect(a.requestCeiling(ctx)).toBe(100);
    expect(b.requestCeiling(ctx)).toBeUndefined();
    await b.load();
    expect(b.requestCeiling(ctx)).toBe(100);

    await a.put(admin, { scope: 'user', subject_id: user, period: 'day', max_request_tokens: 50 });
    expect(seenAtAnnounce).toEqual([undefined, 100]);
    await b.load();
    expect(b.requestCeiling(ctx)).toBe(50);

    await a.remove(admin, set.id);
    expect(seenAtAnnounce).toHaveLength(3);
    expect(a.requestCeiling(ctx)).toBeUndefined();
    await b.load();
    expect(b.requestCeiling(ctx)).toBeUndefined();
  });

  it('runs loads one at a time in call order, so an older read never replaces a newer one', async () => {
    const b = node();
    await b.load();
    let open!: () => void;
    repo.gate = new Promise<void>((r) => (open = r));
    const first = b.load();
    // A budget committed elsewhere while the first load is held; the second load is asked for after it.
    await repo.upsertBudget(database.db, dailyUserBudget(user, { max_request_tokens: 10 }));
    const second = b.load();
    await new Promise((r) => setTimeout(r, 20));
    expect(repo.lists).toBe(2); // the second waits for the first
    open();
    await Promise.all([first, second]);
    expect(repo.lists).toBe(3);
    expect(b.requestCeiling(ctx)).toBe(10);
  });

  it('answers a change with the row it wrote, even when another node deleted it before the reload', async () => {
    const a = node();
    await a.load();
    const first = await a.put(admin, { scope: 'user', subject_id: user, period: 'day', max_request_tokens: 5 });
    repo.beforeList = () => database.db.deleteFrom('budgets').where('id', '=', first.id).execute();
    const second = await a.put(admin, { scope: 'user', subject_id: user, period: 'day', max_request_tokens: 6 });
    expect(second).toMatchObject({ id: first.id, max_request_tokens: 6 });
    expect(a.requestCeiling(ctx)).toBeUndefined(); // the reload saw the other node's delete
  });

  it('keeps its budgets when a load fails, and loads again afterwards', async () => {
    const b = node();
    await b.put(admin, { scope: 'user', subject_id: user, period: 'day', max_request_tokens: 7 });
    repo.fail = true;
    await expect(b.load()).rejects.toThrow('database unreachable');
    expect(b.requestCeiling(ctx)).toBe(7);
    await b.put(admin, { scope: 'user', subject_id: user, period: 'day', max_request_tokens: 8 });
    expect(b.requestCeiling(ctx)).toBe(8);
  });
});
