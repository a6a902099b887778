import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import { nowIso } from '../db/time.js';
import { AppError } from '../errors/index.js';
import { SingleFlight } from '../single-flight.js';
import type { LlmRepository } from './llm.repository.js';
import type { BudgetsTable } from './llm.tables.js';
import type { Budget, BudgetPeriod, BudgetScope, LlmCallContext, PutBudgetBody } from './llm.js';
import { SerialReloads } from './registry-sync.js';

/** Start of the current period (UTC) and when the next begins. */
export function periodBounds(period: BudgetPeriod, now = new Date()): { start: Date; end: Date } {
  if (period === 'day') {
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    return { start, end: new Date(start.getTime() + 86_400_000) };
  }
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return { start, end: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)) };
}

/** Tokens and cost (USD) a call may use. */
export interface Estimate {
  tokens: number;
  cost: number;
}

/** What a call holds against its budgets while it is in flight. */
export interface BudgetHold {
  /**
   * Ends the reservation; only the first call counts. Given the write of the call's usage row, it ends once
   * that row is written, so a concurrent check never misses the call (it sees it as spent, reserved, or both).
   */
  release(recorded?: Promise<unknown>): void;
}

interface SubjectHold {
  /** Calls in flight, and the tokens and cost they reserved. */
  calls: number;
  tokens: number;
  cost: number;
  /** Calls that ended while a check was reading spend: counted by the checks that began before they ended. */
  settled: { seq: number; tokens: number; cost: number }[];
}

const subjectOf = (b: BudgetsTable): string => `${b.scope}:${b.subject_id}`;

/**
 * How long a subject's spend read from the database answers checks, kept up to date with this process's own
 * usage rows, before it is read again: calls recorded by other processes count from the next read.
 */
const SPEND_REFRESH_MS = 1000;
/** Usage rows noted are kept this long, for spend reads that were in flight while they were written. */
const RECENT_MS = 10_000;

/** Spend of one subject in one period: read from usage rows, plus this process's rows written since. */
interface SpendEntry {
  periodStart: string;
  tokens: number;
  cost: number;
  readAt: number;
}

/** A usage row as the spend counters need it. */
export interface SpentRow {
  user_id: string;
  api_key_id: string | null;
  created_at: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number;
  cache_hit: number;
}
const roundCost = (usd: number): number => Math.round(usd * 1e9) / 1e9;

/**
 * Token and cost budgets per user and per API key, checked before any provider is called. Budgets are
 * held in memory so calls without one pay nothing; spend is summed from usage. They are reloaded after every
 * change — on the node that made it before it answers, on the other nodes (API nodes, workers) when its
 * announcement reaches them (RegistrySync on `llm:budgets`).
 *
 * A call under a token or cost budget reserves an estimate while it is in flight, so a burst of concurrent
 * calls cannot all pass a check against spend already recorded. Reservations live in this process: calls in
 * flight on other processes are not counted (each process can overshoot by its own calls in flight).
 */
export class BudgetService {
  private budgets: BudgetsTable[] = [];
  /** Loads one at a time; announces each committed change (RegistrySync keeps the other nodes in step). */
  readonly reloads = new SerialReloads(async () => {
    this.budgets = await this.repo.listBudgets(this.db);
  });
  /** Reservations per subject (`user:<id>`, `api_key:<id>`) with calls in flight. */
  private readonly held = new Map<string, SubjectHold>();
  /** Counts ended reservations, to order them against the checks in flight. */
  private seq = 0;
  /** Checks reading spend, by the `seq` they began at (and how many began there). */
  private readonly checking = new Map<number, number>();

  /** Spend per subject (`user:<id>`, `api_key:<id>`) and period (day, month), read at most SPEND_REFRESH_MS ago. */
  private readonly spend = new Map<string, Map<string, SpendEntry>>();
  private readonly reading = new SingleFlight<string, SpendEntry>();
  /** Usage rows written lately, with their write's sequence number. */
  private recent: { seq: number; at: number; row: SpentRow }[] = [];

  constructor(
    private readonly db: Db,
    private readonly repo: LlmRepository,
    /** Waits until usage rows of finished calls are written, so a check sees them. */
    private readonly flushUsage: () => Promise<void>,
    /** Sequence number of the last usage write handed to the database. */
    private readonly usageWriteSeq: () => number = () => 0,
    /** How long spend read from the usage table answers checks (tests set 0: every check reads). */
    private readonly spendRefreshMs = SPEND_REFRESH_MS,
  ) {}

  /**
   * Usage rows just written (write number `seq`): added to the spend of their user and API key, so checks need
   * not read the usage table again. Called before the calls' reservations end.
   */
  noteSpent(seq: number, rows: readonly SpentRow[]): void {
    if (this.spend.size === 0 && this.reading.size === 0) return;
    const now = Date.now();
    for (const row of rows) {
      if (row.cache_hit || (row.prompt_tokens + row.completion_tokens === 0 && row.cost === 0)) continue;
      if (this.reading.size > 0) this.recent.push({ seq, at: now, row });
      for (const subject of subjectsOf(row)) {
        for (const e of this.spend.get(subject)?.values() ?? []) addSpent(e, row);
      }
    }
    if (this.recent.length > 0 && this.recent[0]!.at < now - RECENT_MS) {
      this.recent = this.recent.filter((r) => r.at >= now - RECENT_MS);
    }
  }

  /**
   * What the budget's subject spent this period: from the usage table at most SPEND_REFRESH_MS ago, plus the rows
   * this process wrote since. A value when that is at hand, else a promise (one read per subject at a time).
   */
  private spentOf(b: BudgetsTable): SpendEntry | Promise<SpendEntry> {
    const subject = subjectOf(b);
    const periodStart = periodBounds(b.period as BudgetPeriod).start.toISOString();
    const e = this.spend.get(subject)?.get(b.period);
    if (e && e.periodStart === periodStart && Date.now() - e.readAt < this.spendRefreshMs) return e;
    return this.reading.run(`${subject}|${periodStart}`, () => this.readSpend(b, subject, periodStart));
  }

  private async readSpend(b: BudgetsTable, subject: string, periodStart: string): Promise<SpendEntry> {
    await this.flushUsage();
    // The flush returns once no usage write is pending: writes up to this number are in the sum below (a write
    // issued in the moment since is too on SQLite, whose statements run in order). Later ones are added from
    // `recent`; one that also made it into the sum counts twice until the next read — never too little.
    const fromSeq = this.usageWriteSeq();
    const readAt = Date.now();
    const spent = await this.repo.spentSince(this.db, b.scope as BudgetScope, b.subject_id, periodStart);
    const e: SpendEntry = { periodStart, tokens: spent.tokens, cost: spent.cost, readAt };
    for (const r of this.recent) {
      if (r.seq > fromSeq && subjectsOf(r.row).includes(subject)) addSpent(e, r.row);
    }
    if (this.spend.size > 10_000) this.spend.clear();
    let periods = this.spend.get(subject);
    if (!periods) this.spend.set(subject, (periods = new Map()));
    periods.set(b.period, e); // a new period's entry replaces the last one's
    return e;
  }

  /** Reads the budgets from the database (one load at a time, in call order). */
  load(): Promise<void> {
    return this.reloads.load();
  }

  private applicable(ctx: LlmCallContext): BudgetsTable[] {
    if (this.budgets.length === 0) return [];
    return this.budgets.filter(
      (b) =>
        (b.scope === 'user' && b.subject_id === ctx.userId) ||
        (b.scope === 'api_key' && ctx.apiKeyId !== undefined && b.subject_id === ctx.apiKeyId),
    );
  }

  /** The lowest `max_tokens` ceiling for one request that applies to this caller. */
  requestCeiling(ctx: LlmCallContext): number | undefined {
    let ceiling: number | undefined;
    for (const b of this.applicable(ctx)) {
      if (b.max_request_tokens !== null) ceiling = Math.min(ceiling ?? Infinity, b.max_request_tokens);
    }
    return ceiling;
  }

  /**
   * Checks every budget of the caller and, when none is used up, reserves `estimate` (called only when a token
   * or cost budget applies) against them until the call releases it. A budget is used up when what recorded
   * calls spent plus what calls in flight reserved reaches its maximum: BUDGET_EXCEEDED (429, Retry-After until
   * the period ends). Undefined when no budget applies: such calls pay nothing.
   */
  async reserve(ctx: LlmCallContext, estimate: () => Estimate): Promise<BudgetHold | undefined> {
    const list = this.applicable(ctx).filter((b) => b.max_tokens !== null || b.max_cost !== null);
    if (list.length === 0) return undefined;
    const need = estimate();
    // Calls whose usage rows were written before this point are in `spent` (a call's rows reach the spend
    // counters before its reservation ends); later ones still count as reserved.
    const since = this.seq;
    this.checking.set(since, (this.checking.get(since) ?? 0) + 1);
    try {
      const spent: { tokens: number; cost: number }[] = [];
      for (const b of list) {
        const s = this.spentOf(b);
        spent.push(s instanceof Promise ? await s : s);
      }
      // No await from here on: checking and reserving are one step, so a burst of calls cannot all pass.
      for (const [i, b] of list.entries()) this.assertLeft(b, spent[i]!, this.reservedFor(subjectOf(b), since));
      return this.hold([...new Set(list.map(subjectOf))], need);
    } finally {
      const left = this.checking.get(since)! - 1;
      if (left > 0) this.checking.set(since, left);
      else this.checking.delete(since);
      for (const [key, s] of this.held) this.prune(key, s);
    }
  }

  private assertLeft(b: BudgetsTable, spent: { tokens: number; cost: number }, reserved: Estimate): void {
    const overTokens = b.max_tokens !== null && spent.tokens + reserved.tokens >= b.max_tokens;
    const overCost = b.max_cost !== null && spent.cost + reserved.cost >= b.max_cost;
    if (!overTokens && !overCost) return;
    const { end } = periodBounds(b.period as BudgetPeriod);
    const secs = Math.max(1, Math.ceil((end.getTime() - Date.now()) / 1000));
    const inFlight = reserved.tokens > 0 || reserved.cost > 0 ? ' (counting calls in flight)' : '';
    throw new AppError(
      'BUDGET_EXCEEDED',
      `The ${b.period}ly ${overTokens ? 'token' : 'cost'} budget of this ${b.scope === 'user' ? 'user' : 'API key'} is used up${inFlight}.`,
      {
        scope: b.scope,
        period: b.period,
        max_tokens: b.max_tokens,
        max_cost: b.max_cost,
        used_tokens: spent.tokens,
        used_cost: spent.cost,
        reserved_tokens: reserved.tokens,
        reserved_cost: roundCost(reserved.cost),
        resets_at: end.toISOString(),
      },
      { 'retry-after': String(secs) },
    );
  }

  /** What calls in flight hold against a subject, as a check that began at `since` must count it. */
  private reservedFor(key: string, since: number): Estimate {
    const s = this.held.get(key);
    if (!s) return { tokens: 0, cost: 0 };
    let tokens = s.tokens;
    let cost = s.cost;
    for (const e of s.settled) {
      if (e.seq > since) {
        tokens += e.tokens;
        cost += e.cost;
      }
    }
    return { tokens, cost };
  }

  private hold(keys: string[], need: Estimate): BudgetHold {
    for (const key of keys) {
      let s = this.held.get(key);
      if (!s) this.held.set(key, (s = { calls: 0, tokens: 0, cost: 0, settled: [] }));
      s.calls++;
      s.tokens += need.tokens;
      s.cost += need.cost;
    }
    let released = false;
    const settle = () => {
      const seq = ++this.seq;
      for (const key of keys) {
        const s = this.held.get(key)!;
        s.calls--;
        s.tokens = s.calls === 0 ? 0 : s.tokens - need.tokens;
        s.cost = s.calls === 0 ? 0 : s.cost - need.cost;
        // A check that read `spent` before this call's row was written must still count the call.
        if (this.checking.size > 0) s.settled.push({ seq, tokens: need.tokens, cost: need.cost });
        this.prune(key, s);
      }
    };
    return {
      release: (recorded) => {
        if (released) return;
        released = true;
        if (recorded) recorded.then(settle, settle);
        else settle();
      },
    };
  }

  /** Drops settled reservations no check in flight can still need, and subjects left with nothing. */
  private prune(key: string, s: SubjectHold): void {
    if (s.settled.length > 0) {
      let oldest = Infinity;
      for (const since of this.checking.keys()) oldest = Math.min(oldest, since);
      s.settled = s.settled.filter((e) => e.seq > oldest);
    }
    if (s.calls === 0 && s.settled.length === 0) this.held.delete(key);
  }

  private async toBudget(b: BudgetsTable): Promise<Budget> {
    const { start } = periodBounds(b.period as BudgetPeriod);
    const spent = await this.repo.spentSince(this.db, b.scope as BudgetScope, b.subject_id, start.toISOString());
    const held = this.held.get(subjectOf(b));
    return {
      id: b.id,
      scope: b.scope as BudgetScope,
      subject_id: b.subject_id,
      period: b.period as BudgetPeriod,
      max_tokens: b.max_tokens,
      max_cost: b.max_cost,
      max_request_tokens: b.max_request_tokens,
      used_tokens: spent.tokens,
      used_cost: spent.cost,
      reserved_tokens: held?.tokens ?? 0,
      reserved_cost: roundCost(held?.cost ?? 0),
      set_by: b.set_by,
      updated_at: b.updated_at,
    };
  }

  /** Budget managers see every budget; anyone else sees those on themselves and their own keys. */
  async list(p: Principal): Promise<Budget[]> {
    await this.flushUsage();
    const all = p.permissions.has('budget:manage');
    const out: Budget[] = [];
    for (const b of this.budgets) {
      if (!all) {
        const mine =
          (b.scope === 'user' && b.subject_id === p.userId) ||
          (b.scope === 'api_key' && (await this.repo.apiKeyOwner(this.db, b.subject_id)) === p.userId);
        if (!mine) continue;
      }
      out.push(await this.toBudget(b));
    }
    return out;
  }

  /** Nobody sets (raises, lowers or removes) a budget on themselves or their own keys, unless admin. */
  private async assertMaySet(p: Principal, scope: BudgetScope, subjectId: string): Promise<void> {
    if (scope === 'user') {
      if (!(await this.repo.userExists(this.db, subjectId)))
        throw new AppError('USER_NOT_FOUND', undefined, { id: subjectId });
      if (subjectId === p.userId && p.role !== 'admin') throw new AppError('BUDGET_SELF_CHANGE');
    } else {
      const owner = await this.repo.apiKeyOwner(this.db, subjectId);
      if (!owner) throw new AppError('API_KEY_NOT_FOUND', undefined, { id: subjectId });
      if (owner === p.userId && p.role !== 'admin') throw new AppError('BUDGET_SELF_CHANGE');
    }
  }

  async put(p: Principal, body: PutBudgetBody): Promise<Budget> {
    await this.assertMaySet(p, body.scope, body.subject_id);
    const now = nowIso();
    const written = await this.repo.upsertBudget(this.db, {
      id: randomUUID(),
      scope: body.scope,
      subject_id: body.subject_id,
      user_id: body.scope === 'user' ? body.subject_id : null,
      api_key_id: body.scope === 'api_key' ? body.subject_id : null,
      period: body.period,
      max_tokens: body.max_tokens ?? null,
      max_cost: body.max_cost ?? null,
      max_request_tokens: body.max_request_tokens ?? null,
      set_by: p.userId,
      created_at: now,
      updated_at: now,
    });
    await this.reloads.committed();
    // The row as written, not as the reload found it: another node may have deleted it in between.
    return this.toBudget(written);
  }

  async remove(p: Principal, id: string): Promise<void> {
    const row = await this.repo.getBudget(this.db, id);
    if (!row) throw new AppError('BUDGET_NOT_FOUND', undefined, { id });
    await this.assertMaySet(p, row.scope as BudgetScope, row.subject_id);
    await this.repo.deleteBudget(this.db, id);
    await this.reloads.committed();
  }
}

/** Adds a usage row to a spend entry when the row falls in the entry's period. */
function addSpent(e: SpendEntry, row: SpentRow): void {
  if (row.created_at < e.periodStart) return;
  e.tokens += row.prompt_tokens + row.completion_tokens;
  e.cost += row.cost;
}

/** The budget subjects a usage row counts for. */
function subjectsOf(row: SpentRow): string[] {
  return row.api_key_id !== null ? [`user:${row.user_id}`, `api_key:${row.api_key_id}`] : [`user:${row.user_id}`];
}
