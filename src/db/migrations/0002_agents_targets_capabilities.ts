import type { Kysely } from 'kysely';
import type { MigrationContext } from '../migration.js';

export const name = '0002_agents_targets_capabilities';

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const float = ctx.dialect === 'postgres' ? 'double precision' : 'real';

  await db.schema
    .createTable('targets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('type', 'text', (c) => c.notNull())
    // JSON; secret fields inside are SecretBox-sealed strings.
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('disconnected'))
    .addColumn('last_activity_at', 'text')
    .addColumn('last_tested_at', 'text')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('targets_owner_name_uq', ['owner_id', 'name'])
    .execute();
  await db.schema.createIndex('targets_owner_created_idx').on('targets').columns(['owner_id', 'created_at']).execute();

  await db.schema
    .createTable('capabilities')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('task_type', 'text', (c) => c.notNull())
    .addColumn('target_types', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('input_schema', 'text', (c) => c.notNull())
    .addColumn('defaults', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('estimated_ms', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('capabilities_owner_name_uq', ['owner_id', 'name'])
    .execute();
  await db.schema
    .createIndex('capabilities_owner_created_idx')
    .on('capabilities')
    .columns(['owner_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('agents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('idle'))
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('system_prompt', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('temperature', float)
    .addColumn('max_tokens', 'integer')
    // JSON arrays of capability ids and memory collection references.
    .addColumn('capabilities', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('memory_collections', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('nft', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('agents_owner_name_uq', ['owner_id', 'name'])
    .execute();
  await db.schema.createIndex('agents_owner_created_idx').on('agents').columns(['owner_id', 'created_at']).execute();
}
