import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { ConfigError } from '../config/config-error.js';
import { readOrCreateKeyFile } from '../config/key-file.js';
import type { Db } from '../db/database.js';
import { sealedColumns, type SealedColumn } from './sealed-columns.js';
import { firstSealedIn, keyIdOf } from './sealed-values.js';
import { parseMasterKey, SecretBox } from './secret-box.js';

export const MASTER_KEY_FILE = 'secret.key';

/** One sealed value stored in the database, if any (tables not created yet are skipped). */
export async function findSealedSample(
  db: Db,
  columns: readonly SealedColumn[] = sealedColumns,
): Promise<{ table: string; keyId: string } | undefined> {
  for (const c of columns) {
    try {
      const res = await sql<{ v: string }>`select ${sql.ref(c.column)} as v from ${sql.table(c.table)} where ${sql.ref(
        c.column,
      )} like ${'%enc:v1:%'} limit 1`.execute(db);
      const sealed = res.rows[0] ? firstSealedIn(res.rows[0].v) : undefined;
      const keyId = sealed ? keyIdOf(sealed) : undefined;
      if (keyId) return { table: c.table, keyId };
    } catch {
      // The owning module's table does not exist in this database.
    }
  }
  return undefined;
}

/**
 * The master key: `secret_key` from config, else `<data_dir>/secret.key` (created 0600 on first
 * start). Refuses to start when the key file is missing but the database holds sealed values
 * (a new key would silently lock them away), and when the key is not the one that sealed them.
 */
export async function resolveMasterKey(config: { secret_key?: string | undefined; data_dir: string }, db: Db) {
  let text: string;
  let source: string;
  if (config.secret_key) {
    text = config.secret_key;
    source = 'CLARION_SECRET_KEY';
  } else {
    const file = path.join(config.data_dir, MASTER_KEY_FILE);
    source = file;
    if (!fs.existsSync(file)) {
      const sample = await findSealedSample(db);
      if (sample) {
        throw new ConfigError(
          'secret_key',
          `the master key file ${file} is missing, but the database holds credentials encrypted with key ${sample.keyId} (table ${sample.table}). Restore the key file or set CLARION_SECRET_KEY to that key; a new key would make them unreadable.`,
        );
      }
    }
    text = readOrCreateKeyFile(config.data_dir, MASTER_KEY_FILE, 32).value;
  }
  let box: SecretBox;
  try {
    box = new SecretBox(parseMasterKey(text));
  } catch (err) {
    throw new ConfigError('secret_key', `${source}: ${(err as Error).message}`);
  }
  const sample = await findSealedSample(db);
  if (sample && sample.keyId !== box.keyId) {
    throw new ConfigError(
      'secret_key',
      `the master key from ${source} (id ${box.keyId}) is not the key that encrypted the stored credentials (id ${sample.keyId}, table ${sample.table}).`,
    );
  }
  return box;
}
