import { setTimeout as sleep } from 'node:timers/promises';
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
 * finishes; the rest wait for the next start) and the call rejects with the signal's reason — also while it is
 * still waiting for another process's lock. `onLockWait` is told once (LOCK_WAIT_MESSAGE) if the lock is held elsewhere.
 */
export async function migrate(
  database: Database,
  migrations: readonly Migration[] = allMigrations,
  { signal, onLockWait }: { signal?: AbortSignal; onLockWait?: (message: string) => void } = {},
): Promise<string[]> {
  const applied: string[] = [];
  const ctx = { dialect: database.dialect };
  await database.db.connection().execute(async (conn) => {
    const db = conn as unknown as Kysely<unknown>;
    if (database.dialect === 'postgres') await takePgLock(db, signal, onLockWait);
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

/** What `onLockWait` is told, for the log or the terminal. */
export const LOCK_WAIT_MESSAGE = 'another process holds the migration lock; waiting for it';

/** How often a process waiting for another's migration lock asks again. */
const LOCK_RETRY_MS = 200;

/**
 * Takes the migration lock, asking again every LOCK_RETRY_MS while another process holds it, rather than blocking
 * in `pg_advisory_lock`: a process told to stop (SIGTERM) while it waits stops at once instead of when the other
 * process is done — which, for a long migration elsewhere, could outlast the platform's grace period.
 */
async function takePgLock(
  db: Kysely<unknown>,
  signal: AbortSignal | undefined,
  onWait?: (message: string) => void,
): Promise<void> {
  for (let waited = false; ; waited = true) {
    signal?.throwIfAborted();
    const got = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${PG_LOCK_KEY}) as ok`.execute(db);
    if (got.rows[0]?.ok) return;
    if (!waited) onWait?.(LOCK_WAIT_MESSAGE);
    // Cut short by the signal: the next turn throws its reason.
    await sleep(LOCK_RETRY_MS, undefined, signal ? { signal } : undefined).catch(() => {});
  }
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
