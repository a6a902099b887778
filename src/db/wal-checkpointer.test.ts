import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { createDatabase, openSqlite } from './database.js';
import { until } from '../../test/helpers/until.js';
import { checkpointWhenWalGrows, WalCheckpointer, WORKER_NICE } from './wal-checkpointer.js';

let dir: string;
let file: string;
let sqlite: SQLite.Database;
const open: WalCheckpointer[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-wal-'));
  file = path.join(dir, 'test.db');
  sqlite = openSqlite(file);
  sqlite.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  // Everything so far into the database file, so that only checkpoints make it grow from here.
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
});

afterEach(async () => {
  for (const c of open.splice(0)) await c.stop();
  if (sqlite.open) sqlite.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function start(intervalMs: number, onError: (err: Error) => void = (err) => expect.fail(err.message)) {
  const c = new WalCheckpointer(sqlite, file, onError, intervalMs);
  open.push(c);
  return c;
}

/** ~2,000 pages of WAL in 40 commits: twice what makes SQLite checkpoint inside a commit by default. */
function writeRows(): void {
  const insert = sqlite.prepare('INSERT INTO t (body) VALUES (?)');
  const body = 'x'.repeat(2000);
  for (let commit = 0; commit < 40; commit++) {
    sqlite.transaction(() => {
      for (let i = 0; i < 100; i++) insert.run(body);
    })();
  }
}

const dbSize = () => fs.statSync(file).size;

describe('WalCheckpointer', () => {
  it('takes checkpoints out of the main connection commits, and makes them on its own thread', async () => {
    expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    const c = start(60_000);
    await until(() => sqlite.pragma('wal_autocheckpoint', { simple: true }) === 10_000, {
      what: 'the backstop threshold',
    });

    const before = dbSize();
    writeRows();
    // Past 1,000 pages of WAL, yet no commit copied anything into the database file.
    expect(dbSize()).toBe(before);

    const result = await c.checkpoint();
    expect(result.busy).toBe(0);
    expect(result.log).toBeGreaterThan(1000);
    expect(result.checkpointed).toBe(result.log);
    expect(dbSize()).toBeGreaterThan(before + 7_000_000);
  });

  it('checkpoints on its own after commits, and leaves an idle database alone', async () => {
    start(20);
    await until(() => sqlite.pragma('wal_autocheckpoint', { simple: true }) === 10_000, { what: 'the worker' });
    // Its first round checkpoints what there is; after that, nothing changes without a commit.
    await new Promise((r) => setTimeout(r, 100));
    const idle = fs.statSync(file).mtimeMs;
    await new Promise((r) => setTimeout(r, 100));
    expect(fs.statSync(file).mtimeMs).toBe(idle);

    const before = dbSize();
    writeRows();
    await until(() => dbSize() > before + 7_000_000, { what: 'a background checkpoint' });
  });

  it.runIf(process.platform === 'linux' && os.getPriority() < WORKER_NICE)(
    'runs its thread below the priority of the event loop (Linux)',
    async () => {
      // Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice value.
      const niceOf = (tid: string) =>
        Number(fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
      const niced = () => fs.readdirSync('/proc/self/task').filter((tid) => niceOf(tid) === WORKER_NICE).length;
      const before = niced();
      const c = start(50);
      await until(() => niced() === before + 1);
      expect(niceOf(String(process.pid))).toBe(os.getPriority());
      await c.stop();
      await until(() => niced() === before);
    },
  );

  it('gives checkpoints back to the main connection when its thread cannot open the database', async () => {
    sqlite.pragma('wal_autocheckpoint = 500');
    let failure: Error | undefined;
    const c = new WalCheckpointer(sqlite, path.join(dir, 'missing.db'), (err) => (failure = err), 20);
    open.push(c);
    await until(() => failure !== undefined, { what: 'the failure' });
    expect(failure?.message).toMatch(/WAL checkpoint (failed|thread exited)/);
    expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it('leaves a main connection closed before the thread is ready alone', async () => {
    const c = start(10);
    sqlite.close();
    // The thread still starts, checkpoints and stops; nothing touches the closed connection.
    const result = await c.checkpoint();
    expect(result.busy).toBe(0);
    await c.stop();
  });

  it('starts its thread only once the WAL has grown', async () => {
    const background = checkpointWhenWalGrows(sqlite, file, (err) => expect.fail(err.message), {
      thresholdBytes: 1_000_000,
      pollMs: 10,
      intervalMs: 10,
    });
    try {
      sqlite.prepare('INSERT INTO t (body) VALUES (?)').run('small');
      await new Promise((r) => setTimeout(r, 100));
      expect(background.checkpointer).toBeUndefined();
      expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);

      writeRows();
      await until(() => sqlite.pragma('wal_autocheckpoint', { simple: true }) === 10_000, { what: 'the thread' });
      expect(background.checkpointer).toBeDefined();
    } finally {
      await background.stop();
    }
  });

  it('a process with nothing else to do waits for stop() to finish', () => {
    sqlite.close();
    const script = `
      import { openSqlite } from ${JSON.stringify(path.resolve('src/db/database.ts'))};
      import { WalCheckpointer } from ${JSON.stringify(path.resolve('src/db/wal-checkpointer.ts'))};
      const db = openSqlite(${JSON.stringify(file)});
      const c = new WalCheckpointer(db, ${JSON.stringify(file)}, (err) => { throw err; }, 10);
      await c.checkpoint();
      await c.stop();
      db.close();
      console.log('stopped');
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('stopped');
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
  });

  it('through createDatabase: starts when the WAL grows; destroy() ends the thread, then the WAL is removed', async () => {
    sqlite.close();
    const database = createDatabase({ url: `sqlite:${file}`, dataDir: dir });
    database.checkpointInBackground((err) => expect.fail(err.message));
    const autocheckpoint = async () =>
      (await sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`.execute(database.db)).rows[0]
        ?.wal_autocheckpoint;
    for (let i = 0; i < 6; i++) {
      await database.db
        .insertInto('t' as never)
        .values({ body: 'x'.repeat(500_000) } as never)
        .execute();
    }
    await until(async () => (await autocheckpoint()) === 10_000, { everyMs: 50, what: 'the checkpoint thread' });
    await database.destroy();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    const again = openSqlite(file);
    expect(again.prepare('SELECT count(*) FROM t').pluck().get()).toBe(6);
    again.close();
  });
});
