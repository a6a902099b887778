import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from './database.js';
import { migrate } from './migrator.js';
import { precompiled, precompiledByShape } from './precompiled.js';
import type { Tables } from './tables.js';
import type { Kysely } from 'kysely';

describe('precompiled', () => {
  let d: Database;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-precompiled-'));
    d = createDatabase({ dataDir: dir });
    await migrate(d);
    await d.db.deleteFrom('roles').execute();
    await d.db
      .insertInto('roles')
      .values(['viewer', 'operator'].map((name) => ({ name, description: name, created_at: '2026-01-01' })))
      .execute();
  });
  afterAll(async () => {
    await d?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs one compiled statement with each call’s own arguments, in order, on a db or a transaction', async () => {
    const byNameOrDescription = precompiled((db: Kysely<Tables>, name: string, description: string) =>
      db.selectFrom('roles').select('name').where('description', '=', description).where('name', '=', name),
    );
    expect((await byNameOrDescription(d.db, 'viewer', 'viewer')).rows).toEqual([{ name: 'viewer' }]);
    expect((await byNameOrDescription(d.db, 'viewer', 'operator')).rows).toEqual([]);
    expect((await byNameOrDescription(d.db, 'operator', 'operator')).rows).toEqual([{ name: 'operator' }]);
    const inTrx = await d.db.transaction().execute((trx) => byNameOrDescription(trx, 'operator', 'operator'));
    expect(inTrx.rows).toEqual([{ name: 'operator' }]);
  });

  it('refuses a builder that does not use every argument as a parameter', async () => {
    const wrong = precompiled((db: Kysely<Tables>, _name: string) => db.selectFrom('roles').select('name'));
    await expect(wrong(d.db, 'viewer')).rejects.toThrow(/uses 0 of its 1 arguments/);
  });

  it('compiles a write once per set of keys, leaving out undefined ones', async () => {
    const setDescription = precompiledByShape(
      (db: Kysely<Tables>, fields: { description?: string; created_at?: string }, name: string) =>
        db.updateTable('roles').set(fields).where('name', '=', name),
    );
    await setDescription(d.db, { description: 'reads', created_at: undefined }, 'viewer');
    await setDescription(d.db, { description: 'runs', created_at: '2026-02-02' }, 'operator');
    await setDescription(d.db, { created_at: '2026-03-03' }, 'viewer');
    const rows = await d.db.selectFrom('roles').select(['name', 'description', 'created_at']).orderBy('name').execute();
    expect(rows).toEqual([
      { name: 'operator', description: 'runs', created_at: '2026-02-02' },
      { name: 'viewer', description: 'reads', created_at: '2026-03-03' },
    ]);
  });

  it('runs on the SQLite handle inside a transaction as part of it: rolled back with it, its errors rejected', async () => {
    const setDescription = precompiled((db: Kysely<Tables>, description: string, name: string) =>
      db.updateTable('roles').set({ description }).where('name', '=', name),
    );
    const insertRole = precompiled((db: Kysely<Tables>, name: string) =>
      db.insertInto('roles').values({ name, description: name, created_at: '2026-01-01' }),
    );
    const failed = d.db.transaction().execute(async (trx) => {
      const r = await setDescription(trx, 'changed', 'viewer');
      expect(r.numAffectedRows).toBe(1n);
      // A duplicate key: the statement's error rejects, and the transaction rolls back.
      await insertRole(trx, 'viewer');
    });
    await expect(failed).rejects.toThrow(/UNIQUE|unique/);
    const viewer = await d.db.selectFrom('roles').select('description').where('name', '=', 'viewer').executeTakeFirst();
    expect(viewer?.description).not.toBe('changed');
    // Committed with its transaction.
    await d.db.transaction().execute((trx) => setDescription(trx, 'committed', 'viewer'));
    const after = await d.db.selectFrom('roles').select('description').where('name', '=', 'viewer').executeTakeFirst();
    expect(after?.description).toBe('committed');
  });
});
