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
});
