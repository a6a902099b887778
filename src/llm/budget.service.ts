import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import { nowIso } from '../db/time.js';
import { AppError } from '../errors/index.js';
import type { LlmRepository } from './llm.repository.js';
import type { BudgetsTable } from './llm.tables.js';
import type { Budget, BudgetPeriod, BudgetScope, LlmCallContext, PutBudgetBody } from './llm.js';

/** Start of the current period (UTC) and when the next begins. */
export function periodBounds(period: BudgetPeriod, now = new Date()): { start: Date; end: Date } {
  if (period === 'day') {
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    return { start, end: new Date(start.getTime() + 86_400_000) };
  }
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return { start, end: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)) };
}

/**
 * Token and cost budgets per user and per API key, checked before any provider is called. Budgets are
 * held in memory (reloaded on change) so calls without one pay nothing; spend is summed from usage.
 */
export class BudgetService {
  private budgets: BudgetsTable[] = [];

  constructor(
    private readonly db: Db,
    private readonly repo: LlmRepository,
    /** Waits until usage rows of finished calls are written, so a check sees them. */
    private readonly flushUsage: () => Promise<void>,
  ) {}

  async load(): Promise<void> {
    this.budgets = await this.repo.listBudgets(this.db);
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

  /** Throws BUDGET_EXCEEDED (429, Retry-After until the period ends) when any budget is used up. */
  async check(ctx: LlmCallContext): Promise<void> {
    const list = this.applicable(ctx).filter((b) => b.max_tokens !== null || b.max_cost !== null);
    if (list.length === 0) return;
    await this.flushUsage();
    for (const b of list) {
      const { start, end } = periodBounds(b.period as BudgetPeriod);
      const spent = await this.repo.spentSince(this.db, b.scope as BudgetScope, b.subject_id, start.toISOString());
      const overTokens = b.max_tokens !== null && spent.tokens >= b.max_tokens;
      const overCost = b.max_cost !== null && spent.cost >= b.max_cost;
      if (overTokens || overCost) {
        const secs = Math.max(1, Math.ceil((end.getTime() - Date.now()) / 1000));
        throw new AppError(
          'BUDGET_EXCEEDED',
          `The ${b.period}ly ${overTokens ? 'token' : 'cost'} budget of this ${b.scope === 'user' ? 'user' : 'API key'} is used up.`,
          {
            scope: b.scope,
            period: b.period,
            max_tokens: b.max_tokens,
            max_cost: b.max_cost,
            used_tokens: spent.tokens,
            used_cost: spent.cost,
            resets_at: end.toISOString(),
          },
          { 'retry-after': String(secs) },
        );
      }
    }
  }

  private async toBudget(b: BudgetsTable): Promise<Budget> {
    const { start } = periodBounds(b.period as BudgetPeriod);
    const spent = await this.repo.spentSince(this.db, b.scope as BudgetScope, b.subject_id, start.toISOString());
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
    await this.repo.upsertBudget(this.db, {
      id: randomUUID(),
      scope: body.scope,
      subject_id: body.subject_id,
      period: body.period,
      max_tokens: body.max_tokens ?? null,
      max_cost: body.max_cost ?? null,
      max_request_tokens: body.max_request_tokens ?? null,
      set_by: p.userId,
      created_at: now,
      updated_at: now,
    });
    await this.load();
    const row = this.budgets.find(
      (b) => b.scope === body.scope && b.subject_id === body.subject_id && b.period === body.period,
    )!;
    return this.toBudget(row);
  }

  async remove(p: Principal, id: string): Promise<void> {
    const row = await this.repo.getBudget(this.db, id);
    if (!row) throw new AppError('BUDGET_NOT_FOUND', undefined, { id });
    await this.assertMaySet(p, row.scope as BudgetScope, row.subject_id);
    await this.repo.deleteBudget(this.db, id);
    await this.load();
  }
}
