import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type Transaction } from 'kysely';
import { createRequire } from 'node:module';
import type PgModule from 'pg';
import type { Tables } from './tables.js';
import { checkpointWhenWalGrows, type BackgroundCheckpoints } from './wal-checkpointer.js';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Tables>;
export type Trx = Transaction<Tables>;
/** A database handle or an open transaction: repositories take either. */
export type DbOrTrx = Kysely<Tables>;

export interface Database {
  readonly db: Db;
  readonly dialect: Dialect;
  /** Where the data lives, for logs: a file path or a URL without its password. */
  readonly location: string;
  /** The SQLite file, for backups; undefined on PostgreSQL. */
  readonly sqliteFile?: string;
  /**
   * SQLite: WAL checkpoints run on a worker thread, not inside a commit on the event loop, once the WAL has grown
   * (wal-checkpointer.ts); for a long-running server. Nothing to do on PostgreSQL.
   */
  checkpointInBackground(onError: (err: Error) => void): void;
  destroy(): Promise<void>;
}

export interface DatabaseOptions {
  /** `postgres://...`, `sqlite:PATH`, or empty for `<dataDir>/clarion.db`. */
  url?: string | undefined;
  dataDir: string;
  /** PostgreSQL schema to use (tests give each run its own). */
  schema?: string;
  poolSize?: number;
}

/**
 * pg is loaded only when a PostgreSQL URL is given: a SQLite start does not pay for it (70 ms of the start).
 * BIGINT (int8) and NUMERIC come back as strings by default; our counters fit in a double.
 */
let pgLoaded: typeof PgModule | undefined;
function loadPg(): typeof PgModule {
  if (!pgLoaded) {
    pgLoaded = createRequire(import.meta.url)('pg') as typeof PgModule;
    pgLoaded.types.setTypeParser(20, (v) => Number(v));
    pgLoaded.types.setTypeParser(1700, (v) => Number(v));
  }
  return pgLoaded;
}

export function createDatabase(opts: DatabaseOptions): Database {
  const url = opts.url ?? '';
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pool = new (loadPg().Pool)({
      connectionString: url,
      max: opts.poolSize ?? 10,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
    const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
    const safe = new URL(url);
    if (safe.password) safe.password = '***';
    return {
      db,
      dialect: 'postgres',
      location: safe.toString(),
      checkpointInBackground: () => {},
      destroy: () => db.destroy(),
    };
  }
  const file = url.startsWith('sqlite:')
    ? path.resolve(url.slice('sqlite:'.length))
    : path.join(opts.dataDir, 'clarion.db');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = openSqlite(file);
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) });
  sqliteByAdapter.set(db.getExecutor().adapter, sqlite);
  let background: BackgroundCheckpoints | undefined;
  return {
    db,
    dialect: 'sqlite',
    location: file,
    sqliteFile: file,
    checkpointInBackground(onError) {
      background ??= checkpointWhenWalGrows(sqlite, file, onError);
    },
    async destroy() {
      // The thread closes its connection first, so the last one to close (the main one) removes the WAL.
      await background?.stop();
      await db.destroy();
    },
  };
}

/** The better-sqlite3 handle behind a Kysely SQLite database, by its adapter (shared by its transactions). */
const sqliteByAdapter = new WeakMap<object, SQLite.Database>();

/**
 * The better-sqlite3 handle under `db` when `db` is a transaction on SQLite: its statements may run on the handle
 * directly and synchronously, skipping Kysely's asynchronous executor (a SQLite database has one connection, and
 * the transaction holds it). Never for the root handle: another transaction may hold the connection meanwhile.
 */
export function sqliteOfTransaction(db: { isTransaction: boolean; getExecutor(): { adapter: object } }) {
  return db.isTransaction ? sqliteByAdapter.get(db.getExecutor().adapter) : undefined;
}

/** Whether `db` (a root handle or a transaction) is on SQLite. */
export function isSqlite(db: { getExecutor(): { adapter: object } }): boolean {
  return sqliteByAdapter.has(db.getExecutor().adapter);
}

export function openSqlite(file: string): SQLite.Database {
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  cachePreparedStatements(sqlite);
  return sqlite;
}

/**
 * Kysely prepares every query afresh; preparing costs as much as running a small statement, so the
 * statements of the (few hundred distinct) queries the app issues are kept and reused. A statement
 * still iterating (busy) is never handed out twice.
 */
function cachePreparedStatements(sqlite: SQLite.Database, max = 1000): void {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((source: string) => {
    const hit = cache.get(source);
    if (hit && !hit.busy) return hit;
    const stmt = prepare(source);
    if (cache.size >= max) cache.clear();
    cache.set(source, stmt);
    return stmt;
  }) as typeof sqlite.prepare;
}
