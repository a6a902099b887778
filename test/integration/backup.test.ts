import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import SQLite from 'better-sqlite3';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackup, restoreBackup } from '../../src/backup/backup.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

async function tarOf(
  entries: { name: string; data?: Buffer | string; type?: 'file' | 'symlink'; linkname?: string }[],
) {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname! });
    else pack.entry({ name: e.name }, e.data ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Backup and restore of the SQLite data folder (PostgreSQL is backed up with its own tools). */
describe('backup and restore', () => {
  let s: TestServer;
  let token: string;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-backup-test-'));

  beforeAll(async () => {
    s = await startTestServer({ dialect: 'sqlite' });
    token = (await s.createUser('operator')).token;
    await s.request('POST', '/api/v1/memory/collections', { token, body: { name: 'notes' } });
  });
  afterAll(async () => {
    await s?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const sqliteFile = () => s.app.database.sqliteFile!;

  it('takes a consistent snapshot while the server keeps writing, and restores it', async () => {
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const docs = Array.from({ length: 20 }, (_, i) => ({ content: `note ${written} ${i} about backups` }));
        const r = await s.request('POST', '/api/v1/memory/collections/notes/documents', {
          token,
          body: { documents: docs },
        });
        expect(r.status).toBe(201);
        written++;
      }
    })();
    while (written < 3) await new Promise((r) => setTimeout(r, 10));
    const out = path.join(tmp, 'live.tar.gz');
    const result = await createBackup({ sqliteFile: sqliteFile(), dataDir: s.dataDir, out });
    writing = false;
    await writer;
    expect(result.files).toContain('clarion.db');
    expect(result.files).toContain('secret.key');

    const target = path.join(tmp, 'restored');
    const restored = await restoreBackup({
      archive: fs.readFileSync(out),
      sqliteFile: path.join(target, 'clarion.db'),
      dataDir: target,
    });
    expect(restored.restored).toEqual(['clarion.db', 'secret.key', 'jwt.key']);
    const db = new SQLite(path.join(target, 'clarion.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const docs = (db.prepare('select count(*) as n from memory_documents').get() as { n: number }).n;
      // Whole requests only: each write added 20 rows in one transaction.
      expect(docs % 20).toBe(0);
      expect(docs).toBeGreaterThanOrEqual(60);
      const fts = (
        db.prepare(`select count(*) as n from memory_fts where memory_fts match '"backups"'`).get() as { n: number }
      ).n;
      expect(fts).toBe(docs);
      expect(db.prepare(`select username from users where username = 'admin'`).get()).toBeTruthy();
    } finally {
      db.close();
    }
    expect(fs.readFileSync(path.join(target, 'secret.key'))).toEqual(
      fs.readFileSync(path.join(s.dataDir, 'secret.key')),
    );
  });

  it('encrypts with a passphrase and refuses a wrong or missing one', async () => {
    const out = path.join(tmp, 'sealed.bin');
    await createBackup({ sqliteFile: sqliteFile(), dataDir: s.dataDir, out, passphrase: 'correct horse battery' });
    const archive = fs.readFileSync(out);
    expect(archive.includes(Buffer.from('SQLite format 3'))).toBe(false);
    const target = path.join(tmp, 'sealed');
    const restore = (passphrase?: string) =>
      restoreBackup({ archive, sqliteFile: path.join(target, 'clarion.db'), dataDir: target, passphrase });
    await expect(restore()).rejects.toMatchObject({ code: 'ARCHIVE_PASSPHRASE_REQUIRED' });
    await expect(restore('wrong passphrase')).rejects.toMatchObject({ code: 'ARCHIVE_PASSPHRASE_WRONG' });
    const flipped = Buffer.from(archive);
    flipped[flipped.length - 40]! ^= 1;
    await expect(
      restoreBackup({
        archive: flipped,
        sqliteFile: path.join(target, 'clarion.db'),
        dataDir: target,
        passphrase: 'correct horse battery',
      }),
    ).rejects.toMatchObject({ code: 'ARCHIVE_PASSPHRASE_WRONG' });
    expect(fs.existsSync(path.join(target, 'clarion.db'))).toBe(false);
    await restore('correct horse battery');
    expect(fs.existsSync(path.join(target, 'clarion.db'))).toBe(true);
  });

  it('rejects tampered, traversing and foreign archives without touching the data folder', async () => {
    const out = path.join(tmp, 'good.tar.gz');
    await createBackup({ sqliteFile: sqliteFile(), dataDir: s.dataDir, out });
    const good = fs.readFileSync(out);
    const target = path.join(tmp, 'victim');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'clarion.db'), 'existing');
    const restore = (archive: Buffer) =>
      restoreBackup({ archive, sqliteFile: path.join(target, 'clarion.db'), dataDir: target });

    const db = fs.readFileSync(sqliteFile());
    const manifest = (files: { name: string; data: Buffer }[]) =>
      JSON.stringify({
        format: 'clarion-backup',
        version: 1,
        created_at: new Date().toISOString(),
        files: files.map((f) => ({ name: f.name, size: f.data.length, sha256: sha(f.data) })),
      });

    const cases: [string, Buffer][] = [
      ['truncated', good.subarray(0, good.length - 100)],
      // Only the gzip trailer (CRC and length) missing: every tar entry is readable, the CRC check is not.
      ['truncated trailer', good.subarray(0, good.length - 4)],
      ['corrupt trailer', Buffer.concat([good.subarray(0, good.length - 8), Buffer.alloc(8, 0xab)])],
      ['not gzip', Buffer.from('hello')],
      [
        'traversal',
        await tarOf([
          { name: '../evil.txt', data: 'x' },
          { name: 'manifest.json', data: '{}' },
        ]),
      ],
      ['absolute', await tarOf([{ name: '/tmp/evil.txt', data: 'x' }])],
      ['nested', await tarOf([{ name: 'a/../../evil.txt', data: 'x' }])],
      ['symlink', await tarOf([{ name: 'clarion.db', type: 'symlink', linkname: '/etc/passwd' }])],
      ['unknown file', await tarOf([{ name: 'evil.sh', data: 'x' }])],
      ['no manifest', await tarOf([{ name: 'clarion.db', data: db }])],
    ];
    const changed = Buffer.from(db);
    changed[200]! ^= 0xff;
    cases.push([
      'checksum',
      await tarOf([
        { name: 'manifest.json', data: manifest([{ name: 'clarion.db', data: db }]) },
        { name: 'clarion.db', data: changed },
      ]),
    ]);
    const foreign = path.join(tmp, 'foreign.db');
    const f = new SQLite(foreign);
    f.exec('create table notes (x text); insert into notes values (1);');
    f.close();
    const foreignData = fs.readFileSync(foreign);
    cases.push([
      'not a clarion database',
      await tarOf([
        { name: 'manifest.json', data: manifest([{ name: 'clarion.db', data: foreignData }]) },
        { name: 'clarion.db', data: foreignData },
      ]),
    ]);
    const garbage = Buffer.from('SQLite format 3\0' + 'x'.repeat(5000));
    cases.push([
      'corrupt database',
      await tarOf([
        { name: 'manifest.json', data: manifest([{ name: 'clarion.db', data: garbage }]) },
        { name: 'clarion.db', data: garbage },
      ]),
    ]);

    for (const [label, archive] of cases) {
      await expect(restore(archive), label).rejects.toMatchObject({ code: 'ARCHIVE_INVALID' });
      expect(fs.readFileSync(path.join(target, 'clarion.db'), 'utf8'), label).toBe('existing');
    }
    expect(fs.existsSync(path.join(tmp, 'evil.txt'))).toBe(false);
    expect(fs.readdirSync(target)).toEqual(['clarion.db']);
  });
});
