import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrator.js';
import { nowIso } from '../../src/db/time.js';
import { createPgSchema, postgresUrl, type TestDialect } from './databases.js';

/** A migrated database of its own (temp SQLite file or fresh PostgreSQL schema), for repository tests. */
export async function openTestDatabase(
  dialect: TestDialect,
): Promise<{ database: Database; close: () => Promise<void> }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-db-'));
  const pgSchema = dialect === 'postgres' ? await createPgSchema() : undefined;
  const database = createDatabase({
    url: pgSchema ? postgresUrl() : undefined,
    dataDir,
    ...(pgSchema ? { schema: pgSchema.schema } : {}),
  });
  await migrate(database);
  return {
    database,
    close: async () => {
      await database.destroy();
      await pgSchema?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Inserts an operator with this id (username and email made from it): for tests of rows that belong to a user. */
export async function insertTestUser(db: Database['db'], id: string): Promise<void> {
  const now = nowIso();
  await db
    .insertInto('users')
    .values({
      id,
      username: id,
      email: `${id}@x.test`,
      password_hash: 'x',
      role: 'operator',
      disabled: 0,
      must_change_password: 0,
      created_at: now,
      updated_at: now,
    })
    .execute();
}
