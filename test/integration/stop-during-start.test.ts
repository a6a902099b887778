import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PG_LOCK_KEY } from '../../src/db/migrator.js';
import { collect, startClarion, waitForOutput } from '../helpers/clarion-process.js';
import { createPgSchema, postgresUrl, testDialects } from '../helpers/databases.js';

/** Child processes start through tsx (seconds each on a busy machine); each test starts two. */
const SLOW = 240_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-stop-start-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * Settings of a child `serve`: a free port, no probing for a local Ollama, and a shutdown timeout far longer than
 * the tests wait, so a slow machine cannot turn a clean stop into "shutdown timed out".
 */
const serveEnv = (env: Record<string, string>): Record<string, string> => ({
  CLARION_PORT: '0',
  CLARION_LOG_LEVEL: 'info',
  CLARION_LLM_AUTODETECT: 'false',
  CLARION_SHUTDOWN_TIMEOUT: '120s',
  ...env,
});

/** Polls `ready` every 20 ms until it holds; rejects when the child ends first. */
async function until(child: ReturnType<typeof startClarion>, ready: () => boolean | Promise<boolean>): Promise<void> {
  let ended = false;
  child.once('close', () => (ended = true));
  while (!(await ready())) {
    if (ended) throw new Error('the child ended before the moment the test waits for');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A later start on the same data: it must find nothing half-written, be ready, and stop with 0 again. */
async function startsCleanly(env: Record<string, string>): Promise<void> {
  const child = startClarion(['serve'], serveEnv(env));
  const done = collect(child);
  const url = (await waitForOutput(child, /"url":"(http:[^"]+)"/))[1]!;
  const ready = await fetch(`${url}/ready`);
  expect(ready.status, await ready.text()).toBe(200);
  child.kill('SIGTERM');
  const result = await done;
  expect(result.code, result.stderr).toBe(0);
}

describe('SIGTERM while serve is starting', () => {
  it(
    'on SQLite: abandons the start, closes the database and exits 0; the next start works',
    async () => {
      const dataDir = path.join(dir, 'sqlite');
      const env = { CLARION_DATA_DIR: dataDir };
      const child = startClarion(['serve'], serveEnv(env));
      const done = collect(child);
      // The database file appears as the start begins: migrations, the admin and the server are still to come.
      await until(child, () => fs.existsSync(path.join(dataDir, 'clarion.db')));
      child.kill('SIGTERM');
      const result = await done;
      expect(result.signal, result.stdout).toBeNull();
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('"signal":"SIGTERM","msg":"shutting down"');
      expect(result.stdout).toContain('"msg":"stopped"');
      await startsCleanly(env);
    },
    SLOW,
  );

  it.skipIf(!testDialects().includes('postgres'))(
    'on PostgreSQL: abandons the start before the next migration, exits 0; the next start applies them all',
    async () => {
      // Another connection holds the migration lock, so the child is provably mid-start (waiting for it) when the
      // signal comes, and it keeps holding it until the child has exited: the child must not wait for the lock to be
      // free before it stops.
      const schema = await createPgSchema();
      const holder = new pg.Client({ connectionString: postgresUrl() });
      await holder.connect();
      try {
        const url = new URL(postgresUrl());
        url.searchParams.set('options', `-c search_path=${schema.schema}`);
        const env = { CLARION_DATA_DIR: path.join(dir, 'pg'), CLARION_DATABASE_URL: url.toString() };
        await holder.query('select pg_advisory_lock($1)', [PG_LOCK_KEY]);
        const child = startClarion(['serve'], serveEnv(env));
        const done = collect(child);
        await waitForOutput(child, /"msg":"another process holds the migration lock; waiting for it"/);
        const started = Date.now();
        child.kill('SIGTERM');
        const result = await done;
        // It did not wait for the lock: it is still held.
        expect(Date.now() - started).toBeLessThan(5000);
        await holder.query('select pg_advisory_unlock($1)', [PG_LOCK_KEY]);

        expect(result.signal, result.stdout).toBeNull();
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toContain('"msg":"start abandoned"');
        expect(result.stdout).toContain('"msg":"stopped"');
        expect(result.stdout).not.toContain('clarion listening');
        // No migration began after the stop, so none is half-applied; the next start applies them all.
        // (It stopped while waiting for the lock, before it even made the migrations table.)
        const table = await holder.query(`select to_regclass($1) as t`, [`${schema.schema}.clarion_migrations`]);
        if (table.rows[0].t !== null) {
          const applied = await holder.query(`select count(*)::int as n from ${schema.schema}.clarion_migrations`);
          expect(applied.rows[0]).toEqual({ n: 0 });
        }
        await startsCleanly(env);
      } finally {
        await holder.end();
        await schema.drop();
      }
    },
    SLOW,
  );
});
