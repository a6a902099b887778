import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from './database.js';
import { migrate } from './migrator.js';
import { precompiled } from './precompiled.js';
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
    expect(await byNameOrDescription(d.db, 'viewer', 'viewer')).toEqual([{ name: 'viewer' }]);
    expect(await byNameOrDescription(d.db, 'viewer', 'operator')).toEqual([]);
    expect(await byNameOrDescription(d.db, 'operator', 'operator')).toEqual([{ name: 'operator' }]);
    const inTrx = await d.db.transaction().execute((trx) => byNameOrDescription(trx, 'operator', 'operator'));
    expect(inTrx).toEqual([{ name: 'operator' }]);
  });

  it('refuses a builder that does not use every argument as a parameter', async () => {
    const wrong = precompiled((db: Kysely<Tables>, _name: string) => db.selectFrom('roles').select('name'));
    await expect(wrong(d.db, 'viewer')).rejects.toThrow(/uses 0 of its 1 arguments/);
  });
});
