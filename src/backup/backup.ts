import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip, gunzip } from 'node:zlib';
import SQLite from 'better-sqlite3';
import tar from 'tar-stream';
import { AppError } from '../errors/index.js';
import { openWithPassphrase, sealWithPassphrase } from './passphrase-box.js';

/**
 * `clarion backup` / `clarion restore` of the data folder on SQLite. The database is copied with SQLite's
 * online backup API from its own connection, so the server may keep writing: the copy is one consistent
 * snapshot. The archive is a gzipped tar of the copy, the key files and a manifest of SHA-256 checksums.
 */
export const DB_NAME = 'clarion.db';
const KEY_FILES = ['secret.key', 'jwt.key'];
const gunzipAsync = promisify(gunzip);
const MANIFEST = 'manifest.json';
const FORMAT = 'clarion-backup';
/** Tables a Clarion database has at any version; a restore refuses a database missing one. */
const REQUIRED_TABLES = ['clarion_migrations', 'users', 'roles', 'permissions', 'api_tokens'];
const MAX_ENTRY_BYTES = 16 * 1024 * 1024 * 1024;

interface Manifest {
  format: string;
  version: 1;
  created_at: string;
  files: { name: string; size: number; sha256: string }[];
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export interface BackupResult {
  file: string;
  bytes: number;
  files: string[];
}

export async function createBackup(opts: {
  sqliteFile: string;
  dataDir: string;
  out: string;
  passphrase?: string | undefined;
}): Promise<BackupResult> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-backup-'));
  try {
    const copy = path.join(work, DB_NAME);
    const source = new SQLite(opts.sqliteFile, { readonly: true, fileMustExist: true });
    try {
      source.pragma('busy_timeout = 5000');
      await source.backup(copy);
    } finally {
      source.close();
    }
    const entries: { name: string; data: Buffer }[] = [{ name: DB_NAME, data: fs.readFileSync(copy) }];
    for (const name of KEY_FILES) {
      const p = path.join(opts.dataDir, name);
      if (fs.existsSync(p)) entries.push({ name, data: fs.readFileSync(p) });
    }
    const manifest: Manifest = {
      format: FORMAT,
      version: 1,
      created_at: new Date().toISOString(),
      files: entries.map((e) => ({ name: e.name, size: e.data.length, sha256: sha256(e.data) })),
    };
    const pack = tar.pack();
    pack.entry({ name: MANIFEST }, JSON.stringify(manifest, null, 2));
    for (const e of entries) pack.entry({ name: e.name, mode: 0o600 }, e.data);
    pack.finalize();
    const chunks: Buffer[] = [];
    const gzip = pack.pipe(createGzip());
    for await (const c of gzip) chunks.push(c as Buffer);
    let archive: Buffer = Buffer.concat(chunks);
    if (opts.passphrase) archive = await sealWithPassphrase(archive, opts.passphrase);
    const tmp = `${opts.out}.partial`;
    fs.writeFileSync(tmp, archive, { mode: 0o600 });
    fs.renameSync(tmp, opts.out);
    return { file: opts.out, bytes: archive.length, files: entries.map((e) => e.name) };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Reads and checks an archive without touching the data folder: only plain files with expected names (no
 * `..`, absolute paths, links or folders), every file listed in the manifest with a matching checksum, and a
 * database that passes `PRAGMA integrity_check` and has Clarion's tables.
 */
export async function readBackup(
  archive: Buffer,
  passphrase?: string,
): Promise<{ manifest: Manifest; files: Map<string, Buffer> }> {
  const plain = await openWithPassphrase(archive, passphrase);
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  const allowed = new Set([MANIFEST, DB_NAME, ...KEY_FILES]);
  extract.on('entry', (header, stream, next) => {
    const name = header.name;
    // Destroying the extractor makes the pipeline below reject with this error.
    const fail = (why: string) => {
      // The entry stream gets the same error when the extractor is destroyed; it is reported once, below.
      stream.on('error', () => {});
      stream.resume();
      extract.destroy(new AppError('ARCHIVE_INVALID', `Archive entry "${name}" refused: ${why}.`));
    };
    if (header.type !== 'file') return fail(`it is a ${header.type}, only plain files are accepted`);
    if (path.isAbsolute(name) || name.includes('\\') || name.includes('/'))
      return fail('its path leaves the archive root');
    if (!allowed.has(name)) return fail('it is not a file Clarion writes');
    if (files.has(name)) return fail('it appears twice');
    if ((header.size ?? 0) > MAX_ENTRY_BYTES) return fail('it is too large');
    const parts: Buffer[] = [];
    stream.on('data', (c: unknown) => parts.push(c as Buffer));
    stream.on('end', () => {
      files.set(name, Buffer.concat(parts));
      next();
    });
  });
  try {
    // Decompressed whole before the tar is read (the entries are kept in memory anyway): as a stream stage, a
    // truncated archive's "unexpected end of file" could arrive after the extractor had finished, with nobody
    // left listening, and crash the process.
    const tarBytes = await gunzipAsync(plain);
    await pipeline(Readable.from([tarBytes]), extract);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('ARCHIVE_INVALID', `The archive cannot be read: ${(err as Error).message}`);
  }

  const rawManifest = files.get(MANIFEST);
  if (!rawManifest) throw new AppError('ARCHIVE_INVALID', 'The archive has no manifest.');
  let manifest: Manifest;
  try {
    manifest = JSON.parse(rawManifest.toString('utf8')) as Manifest;
  } catch {
    throw new AppError('ARCHIVE_INVALID', 'The manifest is not JSON.');
  }
  if (manifest.format !== FORMAT || manifest.version !== 1 || !Array.isArray(manifest.files)) {
    throw new AppError('ARCHIVE_INVALID', 'The manifest is not a Clarion backup manifest.');
  }
  const listed = new Set(manifest.files.map((f) => f.name));
  for (const name of files.keys()) {
    if (name !== MANIFEST && !listed.has(name))
      throw new AppError('ARCHIVE_INVALID', `${name} is not in the manifest.`);
  }
  for (const f of manifest.files) {
    const data = files.get(f.name);
    if (!data) throw new AppError('ARCHIVE_INVALID', `${f.name} is listed in the manifest but missing.`);
    if (data.length !== f.size || sha256(data) !== f.sha256) {
      throw new AppError('ARCHIVE_INVALID', `${f.name} does not match its checksum.`);
    }
  }
  if (!files.has(DB_NAME)) throw new AppError('ARCHIVE_INVALID', 'The archive has no database.');
  return { manifest, files };
}

/** Opens a database file and checks it is whole and Clarion's; throws ARCHIVE_INVALID otherwise. */
export function checkDatabaseFile(file: string): void {
  let db: SQLite.Database | undefined;
  try {
    db = new SQLite(file, { readonly: true, fileMustExist: true });
    const result = db.pragma('integrity_check', { simple: true });
    if (result !== 'ok')
      throw new AppError('ARCHIVE_INVALID', `The database fails its integrity check: ${String(result)}`);
    const tables = new Set(
      (db.prepare(`select name from sqlite_master where type = 'table'`).all() as { name: string }[]).map(
        (r) => r.name,
      ),
    );
    const missing = REQUIRED_TABLES.filter((t) => !tables.has(t));
    if (missing.length)
      throw new AppError('ARCHIVE_INVALID', `The database lacks Clarion tables: ${missing.join(', ')}`);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('ARCHIVE_INVALID', `The database cannot be opened: ${(err as Error).message}`);
  } finally {
    db?.close();
  }
}

/**
 * Restores an archive into the data folder. The current database (if any) is kept beside it as
 * `clarion.db.before-restore-<time>`; the server must be stopped, since it holds the old file open.
 */
export async function restoreBackup(opts: {
  archive: Buffer;
  sqliteFile: string;
  dataDir: string;
  passphrase?: string | undefined;
}): Promise<{ restored: string[]; previous?: string }> {
  const { files } = await readBackup(opts.archive, opts.passphrase);
  fs.mkdirSync(path.dirname(opts.sqliteFile), { recursive: true });
  const staged = `${opts.sqliteFile}.restoring`;
  fs.writeFileSync(staged, files.get(DB_NAME)!, { mode: 0o600 });
  try {
    checkDatabaseFile(staged);
  } catch (err) {
    fs.rmSync(staged, { force: true });
    throw err;
  }
  let previous: string | undefined;
  if (fs.existsSync(opts.sqliteFile)) {
    previous = `${opts.sqliteFile}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    fs.renameSync(opts.sqliteFile, previous);
  }
  for (const suffix of ['-wal', '-shm']) fs.rmSync(opts.sqliteFile + suffix, { force: true });
  fs.renameSync(staged, opts.sqliteFile);
  const restored = [DB_NAME];
  for (const name of KEY_FILES) {
    const data = files.get(name);
    if (!data) continue;
    fs.writeFileSync(path.join(opts.dataDir, name), data, { mode: 0o600 });
    restored.push(name);
  }
  return { restored, ...(previous ? { previous } : {}) };
}
