import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../migration.js';

export const name = '0007_budget_subjects';

/**
 * A budget names its subject (a user or an API key) by id in `subject_id`, which no foreign key covered: deleting a
 * user left their budgets and their keys' budgets behind, listed to budget managers and impossible to delete (the
 * delete checks the subject, which no longer exists). The subject is now also held in a column of its own kind,
 * referencing users or api_tokens with ON DELETE CASCADE, as every other table that belongs to a user.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  // Budgets whose subject is already gone go first (nothing could use or remove them).
  await sql`delete from budgets where (scope = 'user' and subject_id not in (select id from users))
    or (scope = 'api_key' and subject_id not in (select id from api_tokens))`.execute(db);
  await db.schema
    .alterTable('budgets')
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .execute();
  await db.schema
    .alterTable('budgets')
    .addColumn('api_key_id', 'text', (c) => c.references('api_tokens.id').onDelete('cascade'))
    .execute();
  await sql`update budgets set user_id = subject_id where scope = 'user'`.execute(db);
  await sql`update budgets set api_key_id = subject_id where scope = 'api_key'`.execute(db);
}
