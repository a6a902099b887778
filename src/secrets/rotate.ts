import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { MASTER_KEY_FILE } from './master-key.js';
import { sealedColumns, type SealedColumn } from './sealed-columns.js';
import { resealColumnText } from './sealed-values.js';
import { parseMasterKey, SecretBox } from './secret-box.js';

export interface RotationResult {
  oldKeyId: string;
  newKeyId: string;
  /** Rows re-encrypted per table. */
  tables: Record<string, number>;
}

/**
 * Re-encrypts every sealed value of every registered column under `to`, in one transaction:
 * either all values move to the new key or none do. A value that `from` cannot open aborts it.
 */
export async function resealAll(
  db: Db,
  from: SecretBox,
  to: SecretBox,
  columns: readonly SealedColumn[] = sealedColumns,
): Promise<Record<string, number>> {
  const tables: Record<string, number> = {};
  const present = new Set<string>();
  for (const c of columns) {
    try {
      await sql`select 1 from ${sql.table(c.table)} where 1 = 0`.execute(db);
      present.add(c.table);
    } catch {
      // module not installed in this database
    }
  }
  await db.transaction().execute(async (trx) => {
    for (const c of columns) {
      if (!present.has(c.table)) continue;
      const rows = await sql<{ id: string; v: string }>`select ${sql.ref(c.idColumn)} as id, ${sql.ref(
        c.column,
      )} as v from ${sql.table(c.table)} where ${sql.ref(c.column)} like ${'%enc:v1:%'}`.execute(trx);
      let n = 0;
      for (const row of rows.rows) {
        let next: string | undefined;
        try {
          next = resealColumnText(row.v, from, to);
        } catch (err) {
          throw new Error(`${c.table} ${row.id}: ${(err as Error).message}`);
        }
        if (next === undefined) continue;
        await sql`update ${sql.table(c.table)} set ${sql.ref(c.column)} = ${next} where ${sql.ref(
          c.idColumn,
        )} = ${row.id}`.execute(trx);
        n++;
      }
      tables[c.table] = (tables[c.table] ?? 0) + n;
    }
  });
  return tables;
}

/**
 * `clarion secrets rotate` with the key kept in `<data_dir>/secret.key`: writes the new key beside
 * the old one, keeps the old as `secret.key.old` while the database is re-encrypted, then swaps the
 * files. If the process dies half-way, the database is either all old (secret.key still valid) or
 * all new (the key is in secret.key.new).
 */
export async function rotateKeyFile(db: Db, dataDir: string, newKeyText?: string): Promise<RotationResult> {
  const file = path.join(dataDir, MASTER_KEY_FILE);
  if (!fs.existsSync(file)) {
    throw new Error(
      `there is no master key to rotate: ${file} does not exist (Clarion creates it on its first start; nothing is encrypted yet)`,
    );
  }
  const oldText = fs.readFileSync(file, 'utf8').trim();
  const from = new SecretBox(parseMasterKey(oldText));
  const nextText = newKeyText?.trim() ?? randomBytes(32).toString('base64');
  const to = new SecretBox(parseMasterKey(nextText));
  if (to.keyId === from.keyId) throw new Error('the new key is the current key');
  const newFile = `${file}.new`;
  const oldFile = `${file}.old`;
  fs.writeFileSync(newFile, `${nextText}\n`, { mode: 0o600 });
  fs.copyFileSync(file, oldFile);
  fs.chmodSync(oldFile, 0o600);
  let tables: Record<string, number>;
  try {
    tables = await resealAll(db, from, to);
  } catch (err) {
    fs.rmSync(newFile, { force: true });
    fs.rmSync(oldFile, { force: true });
    throw err;
  }
  fs.renameSync(newFile, file);
  fs.rmSync(oldFile, { force: true });
  return { oldKeyId: from.keyId, newKeyId: to.keyId, tables };
}

/** Rotation when the key comes from configuration: re-encrypts under the given new key only. */
export async function rotateConfiguredKey(db: Db, oldKeyText: string, newKeyText: string): Promise<RotationResult> {
  const from = new SecretBox(parseMasterKey(oldKeyText));
  const to = new SecretBox(parseMasterKey(newKeyText));
  if (to.keyId === from.keyId) throw new Error('the new key is the current key');
  const tables = await resealAll(db, from, to);
  return { oldKeyId: from.keyId, newKeyId: to.keyId, tables };
}
