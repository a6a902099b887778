import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import type { Migration } from './migration.js';
import { migrations as allMigrations } from './migrations/index.js';
import { nowIso } from './time.js';

/** Any constant works; it only has to be the same in every Clarion process. */
export const PG_LOCK_KEY = 724_611_301;

/**
 * Applies pending migrations, each in its own transaction. On PostgreSQL a session advisory lock
 * makes concurrent starters wait, so every migration runs exactly once; on SQLite `BEGIN IMMEDIATE`
 * serialises writers and the applied list is read again inside the transaction.
 * Returns the names applied by this call. Once `signal` fires no further migration begins (the one running
 * finishes; the rest wait for the next start) and the call rejects with the signal's reason.
 */
export async function migrate(
  database: Database,
  migrations: readonly Migration[] = allMigrations,
  signal?: AbortSignal,
): Promise<string[]> {
  const applied: string[] = [];
  const ctx = { dialect: database.dialect };
  await database.db.connection().execute(async (conn) => {
    const db = conn as unknown as Kysely<unknown>;
    if (database.dialect === 'postgres') await sql`select pg_advisory_lock(${PG_LOCK_KEY})`.execute(db);
    try {
      await db.schema
        .createTable('clarion_migrations')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('applied_at', 'text', (c) => c.notNull())
        .execute();
      for (const m of migrations) {
        signal?.throwIfAborted();
        await sql.raw(database.dialect === 'sqlite' ? 'BEGIN IMMEDIATE' : 'BEGIN').execute(db);
        try {
          const done = await sql<{ name: string }>`select name from clarion_migrations where name = ${m.name}`.execute(
            db,
          );
          if (done.rows.length === 0) {
            await m.up(db, ctx);
            await sql`insert into clarion_migrations (name, applied_at) values (${m.name}, ${nowIso()})`.execute(db);
            applied.push(m.name);
          }
          await sql.raw('COMMIT').execute(db);
        } catch (err) {
          await sql.raw('ROLLBACK').execute(db);
          throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
        }
      }
    } finally {
      if (database.dialect === 'postgres') await sql`select pg_advisory_unlock(${PG_LOCK_KEY})`.execute(db);
    }
  });
  return applied;
}

/** Names of known migrations not yet applied (for /ready and `clarion migrate --status`). */
export async function pendingMigrations(
  database: Database,
  migrations: readonly Migration[] = allMigrations,
): Promise<string[]> {
  let rows: { name: string }[];
  try {
    rows = await database.db.selectFrom('clarion_migrations').select('name').execute();
  } catch {
    return migrations.map((m) => m.name);
  }
  const done = new Set(rows.map((r) => r.name));
  return migrations.map((m) => m.name).filter((n) => !done.has(n));
}
