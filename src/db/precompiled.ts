import type SQLite from 'better-sqlite3';
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import { sqliteOfTransaction } from './database.js';

/**
 * A query of a hot path, built and compiled once per dialect instead of on every call: Kysely's
 * builder and compiler cost more than running a small indexed SELECT. `build` is called once with
 * placeholder values; each call then runs the same SQL with its own parameters, on a database
 * handle or a transaction, and answers Kysely's QueryResult (rows, numAffectedRows). Only for queries whose shape does not depend on the arguments.
 */
export function precompiled<DB, A extends unknown[], R>(
  build: (db: Kysely<DB>, ...args: A) => Compilable<R>,
): (db: Kysely<DB>, ...args: A) => Promise<QueryResult<R>> {
  const byAdapter = new WeakMap<object, { compiled: CompiledQuery<R>; slots: number[] }>();
  return async (db, ...args) => {
    const adapter = db.getExecutor().adapter;
    let entry = byAdapter.get(adapter);
    if (!entry) {
      const marks = args.map((_, i) => `\u0000precompiled-argument-${i}\u0000`);
      const compiled = build(db, ...(marks as A)).compile();
      const slots = compiled.parameters.map((p) => marks.indexOf(p as string));
      const used = new Set(slots.filter((s) => s >= 0));
      if (used.size !== args.length) {
        throw new Error(`precompiled query uses ${used.size} of its ${args.length} arguments as parameters`);
      }
      entry = { compiled, slots };
      byAdapter.set(adapter, entry);
    }
    const { compiled, slots } = entry;
    const parameters = compiled.parameters.map((p, i) => (slots[i]! >= 0 ? args[slots[i]!] : p));
    const sqlite = sqliteOfTransaction(db);
    if (sqlite) return runOnSqlite<R>(sqlite, compiled.sql, parameters);
    return db.executeQuery<R>({ ...compiled, parameters });
  };
}

/** What Kysely's SQLite driver does for one statement, without its executor's promises and connection lock. */
function runOnSqlite<R>(sqlite: SQLite.Database, sql: string, parameters: unknown[]): QueryResult<R> {
  const stmt = sqlite.prepare(sql);
  if (stmt.reader) return { rows: stmt.all(parameters) as R[] };
  const { changes, lastInsertRowid } = stmt.run(parameters);
  return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
}

/**
 * Like `precompiled`, for a write whose values come as an object (a row to insert or upsert, fields to set):
 * compiled once per set of keys. Keys whose value is `undefined` are left out, as Kysely leaves them out.
 */
export function precompiledByShape<DB, O extends object, A extends unknown[], R>(
  build: (db: Kysely<DB>, values: O, ...args: A) => Compilable<R>,
): (db: Kysely<DB>, values: O, ...args: A) => Promise<QueryResult<R>> {
  const byShape = new Map<string, (db: Kysely<DB>, ...all: unknown[]) => Promise<QueryResult<R>>>();
  return (db, values, ...args) => {
    const entries = Object.entries(values).filter(([, v]) => v !== undefined);
    const keys = entries.map(([k]) => k);
    const shape = keys.join('\u0000');
    let run = byShape.get(shape);
    if (!run) {
      run = precompiled((d: Kysely<DB>, ...all: unknown[]) =>
        build(d, Object.fromEntries(keys.map((k, i) => [k, all[i]])) as O, ...(all.slice(keys.length) as A)),
      );
      byShape.set(shape, run);
    }
    return run(db, ...entries.map(([, v]) => v), ...args);
  };
}
