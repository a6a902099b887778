import type { Kysely } from 'kysely';
import type { MigrationContext } from '../migration.js';

export const name = '0003_llm';

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  // Cost and latency need fractions on both dialects.
  const real = ctx.dialect === 'postgres' ? 'double precision' : 'real';

  await db.schema
    .createTable('llm_providers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('base_url', 'text', (c) => c.notNull())
    .addColumn('api_key', 'text')
    .addColumn('models', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('model_aliases')
    .addColumn('alias', 'text', (c) => c.primaryKey())
    .addColumn('strategy', 'text', (c) => c.notNull())
    .addColumn('deployments', 'text', (c) => c.notNull())
    .addColumn('delegate', 'text')
    .addColumn('updated_by', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('model_prices')
    .addColumn('model', 'text', (c) => c.primaryKey())
    .addColumn('input_per_mtok', real as 'real', (c) => c.notNull())
    .addColumn('output_per_mtok', real as 'real', (c) => c.notNull())
    .addColumn('context_window', 'integer')
    .addColumn('updated_by', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('llm_usage')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('api_key_id', 'text')
    .addColumn('agent_id', 'text')
    .addColumn('run_id', 'text')
    .addColumn('step_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('provider', 'text')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('prompt_tokens', 'integer', (c) => c.notNull())
    .addColumn('completion_tokens', 'integer', (c) => c.notNull())
    .addColumn('cost', real as 'real', (c) => c.notNull())
    .addColumn('latency_ms', real as 'real', (c) => c.notNull())
    .addColumn('ttft_ms', real as 'real')
    .addColumn('cache_hit', 'integer', (c) => c.notNull())
    .addColumn('stream', 'integer', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('error_code', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('llm_usage_user_time_idx').on('llm_usage').columns(['user_id', 'created_at']).execute();
  await db.schema.createIndex('llm_usage_key_time_idx').on('llm_usage').columns(['api_key_id', 'created_at']).execute();
  await db.schema.createIndex('llm_usage_time_idx').on('llm_usage').column('created_at').execute();
  await db.schema.createIndex('llm_usage_run_idx').on('llm_usage').column('run_id').execute();

  await db.schema
    .createTable('budgets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('period', 'text', (c) => c.notNull())
    .addColumn('max_tokens', 'bigint')
    .addColumn('max_cost', real as 'real')
    .addColumn('max_request_tokens', 'integer')
    .addColumn('set_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('budgets_subject_period_uq', ['scope', 'subject_id', 'period'])
    .execute();
}
