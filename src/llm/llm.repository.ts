import { sql } from 'kysely';
import { isSqlite, type Db, type DbOrTrx } from '../db/database.js';
import { precompiledByShape } from '../db/precompiled.js';
import type {
  BudgetsTable,
  LlmProvidersTable,
  LlmUsageTable,
  ModelAliasesTable,
  ModelPricesTable,
} from './llm.tables.js';

const insertUsageRow = precompiledByShape((db: DbOrTrx, row: LlmUsageTable) => db.insertInto('llm_usage').values(row));

/**
 * All SQL of the LLM layer. Providers, aliases and prices are system-wide (guarded by permissions);
 * usage is always read scoped to a user unless the caller asked for everyone's (analytics:read).
 */
export class LlmRepository {
  // ---- providers
  listProviders(db: DbOrTrx): Promise<LlmProvidersTable[]> {
    return db.selectFrom('llm_providers').selectAll().orderBy('created_at').orderBy('id').execute();
  }

  getProvider(db: DbOrTrx, id: string): Promise<LlmProvidersTable | undefined> {
    return db.selectFrom('llm_providers').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async insertProvider(db: DbOrTrx, row: LlmProvidersTable): Promise<void> {
    await db.insertInto('llm_providers').values(row).execute();
  }

  async updateProvider(db: DbOrTrx, id: string, patch: Partial<LlmProvidersTable>): Promise<void> {
    await db.updateTable('llm_providers').set(patch).where('id', '=', id).execute();
  }

  async deleteProvider(db: DbOrTrx, id: string): Promise<boolean> {
    const r = await db.deleteFrom('llm_providers').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- aliases
  listAliases(db: DbOrTrx): Promise<ModelAliasesTable[]> {
    return db.selectFrom('model_aliases').selectAll().orderBy('alias').execute();
  }

  async upsertAlias(db: DbOrTrx, row: ModelAliasesTable): Promise<void> {
    await db
      .insertInto('model_aliases')
      .values(row)
      .onConflict((oc) =>
        oc.column('alias').doUpdateSet({
          strategy: row.strategy,
          deployments: row.deployments,
          delegate: row.delegate,
          updated_by: row.updated_by,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  async deleteAlias(db: DbOrTrx, alias: string): Promise<boolean> {
    const r = await db.deleteFrom('model_aliases').where('alias', '=', alias).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- prices
  listPrices(db: DbOrTrx): Promise<ModelPricesTable[]> {
    return db.selectFrom('model_prices').selectAll().orderBy('model').execute();
  }

  async upsertPrice(db: DbOrTrx, row: ModelPricesTable): Promise<void> {
    await db
      .insertInto('model_prices')
      .values(row)
      .onConflict((oc) =>
        oc.column('model').doUpdateSet({
          input_per_mtok: row.input_per_mtok,
          output_per_mtok: row.output_per_mtok,
          context_window: row.context_window,
          updated_by: row.updated_by,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  async deletePrice(db: DbOrTrx, model: string): Promise<boolean> {
    const r = await db.deleteFrom('model_prices').where('model', '=', model).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- usage
  /**
   * One batch of usage rows. On SQLite, one precompiled single-row insert per row in one transaction: building and
   * compiling a multi-row insert with Kysely for every batch cost more CPU (and garbage) than running it. On
   * PostgreSQL, one multi-row insert (one round trip).
   */
  async insertUsage(db: Db, rows: LlmUsageTable[]): Promise<void> {
    if (rows.length === 0) return;
    if (!isSqlite(db)) {
      await db.insertInto('llm_usage').values(rows).execute();
      return;
    }
    await db.transaction().execute(async (trx) => {
      for (const row of rows) await insertUsageRow(trx, row);
    });
  }

  /** Newest first; `userId` undefined means every user's (the caller checked analytics:read). */
  listUsage(
    db: DbOrTrx,
    q: { userId?: string; since?: string; before?: { at: string; id: string }; limit: number },
  ): Promise<LlmUsageTable[]> {
    let query = db.selectFrom('llm_usage').selectAll();
    if (q.userId !== undefined) query = query.where('user_id', '=', q.userId);
    if (q.since) query = query.where('created_at', '>=', q.since);
    if (q.before) {
      const b = q.before;
      query = query.where((eb) =>
        eb.or([eb('created_at', '<', b.at), eb.and([eb('created_at', '=', b.at), eb('id', '<', b.id)])]),
      );
    }
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
  }

  /** Tokens and cost spent by a user or key since a time; cache hits cost nothing and are not counted. */
  async spentSince(
    db: DbOrTrx,
    scope: 'user' | 'api_key',
    subjectId: string,
    since: string,
  ): Promise<{ tokens: number; cost: number }> {
    const col = scope === 'user' ? 'user_id' : 'api_key_id';
    const row = await db
      .selectFrom('llm_usage')
      .select([
        sql<number>`coalesce(sum(prompt_tokens + completion_tokens), 0)`.as('tokens'),
        sql<number>`coalesce(sum(cost), 0)`.as('cost'),
      ])
      .where(col, '=', subjectId)
      .where('created_at', '>=', since)
      .where('cache_hit', '=', 0)
      .executeTakeFirst();
    return { tokens: Number(row?.tokens ?? 0), cost: Number(row?.cost ?? 0) };
  }

  /** Totals per model since a time, for one user or everyone. */
  summary(
    db: DbOrTrx,
    q: { userId?: string; since: string },
  ): Promise<
    {
      model: string;
      calls: number;
      prompt_tokens: number;
      completion_tokens: number;
      cost: number;
      cache_hits: number;
    }[]
  > {
    let query = db
      .selectFrom('llm_usage')
      .select([
        'model',
        sql<number>`count(*)`.as('calls'),
        sql<number>`coalesce(sum(prompt_tokens), 0)`.as('prompt_tokens'),
        sql<number>`coalesce(sum(completion_tokens), 0)`.as('completion_tokens'),
        sql<number>`coalesce(sum(cost), 0)`.as('cost'),
        sql<number>`coalesce(sum(cache_hit), 0)`.as('cache_hits'),
      ])
      .where('created_at', '>=', q.since);
    if (q.userId !== undefined) query = query.where('user_id', '=', q.userId);
    return query.groupBy('model').orderBy('model').execute();
  }

  // ---- budgets
  listBudgets(db: DbOrTrx): Promise<BudgetsTable[]> {
    return db.selectFrom('budgets').selectAll().orderBy('created_at').orderBy('id').execute();
  }

  getBudget(db: DbOrTrx, id: string): Promise<BudgetsTable | undefined> {
    return db.selectFrom('budgets').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Inserts or updates the budget of (scope, subject, period); returns the row as written (its id is the first one's). */
  async upsertBudget(db: DbOrTrx, row: BudgetsTable): Promise<BudgetsTable> {
    return db
      .insertInto('budgets')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['scope', 'subject_id', 'period']).doUpdateSet({
          max_tokens: row.max_tokens,
          max_cost: row.max_cost,
          max_request_tokens: row.max_request_tokens,
          set_by: row.set_by,
          updated_at: row.updated_at,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async deleteBudget(db: DbOrTrx, id: string): Promise<boolean> {
    const r = await db.deleteFrom('budgets').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- subjects a budget can name (read-only look-ups into the auth tables)
  async userExists(db: DbOrTrx, id: string): Promise<boolean> {
    return (await db.selectFrom('users').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
  }

  async apiKeyOwner(db: DbOrTrx, id: string): Promise<string | undefined> {
    const r = await db.selectFrom('api_tokens').select('user_id').where('id', '=', id).executeTakeFirst();
    return r?.user_id;
  }
}
