import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRepository } from '../../src/auth/api-key.repository.js';
import { generateApiKey } from '../../src/auth/api-key-format.js';
import { SessionRepository } from '../../src/auth/session.repository.js';
import { UserRepository, type UserRow } from '../../src/auth/user.repository.js';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { createDatabase, type Database } from '../../src/db/database.js';
import { migrate, pendingMigrations } from '../../src/db/migrator.js';
import { isUniqueViolation } from '../../src/db/unique-violation.js';
import { migrations } from '../../src/db/migrations/index.js';
import { decodeCursor, encodeCursor } from '../../src/http/pagination.js';
import { runClarion } from '../helpers/clarion-process.js';
import { createPgSchema, postgresUrl, testDialects, type TestDialect } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const names = migrations.map((m) => m.name);
/** Child processes start through tsx (seconds each on a busy machine). */
const SLOW = 120_000;

/** A fresh, unmigrated database of its own; `open` gives another handle on the same data. */
async function freshDatabase(dialect: TestDialect) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-mig-'));
  const schema = dialect === 'postgres' ? await createPgSchema() : undefined;
  const handles: Database[] = [];
  const open = () => {
    const d = createDatabase({
      url: schema ? postgresUrl() : undefined,
      dataDir,
      ...(schema ? { schema: schema.schema } : {}),
    });
    handles.push(d);
    return d;
  };
  return {
    dataDir,
    schema: schema?.schema,
    open,
    close: async () => {
      for (const h of handles) await h.destroy();
      await schema?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const appliedRows = async (d: Database) =>
  (await sql<{ name: string }>`select name from clarion_migrations order by name`.execute(d.db)).rows.map(
    (r) => r.name,
  );

describe.each(testDialects())('migrations on %s', (dialect) => {
  it('apply once, in order; a second run applies nothing', async () => {
    const f = await freshDatabase(dialect);
    try {
      const d = f.open();
      expect(await pendingMigrations(d)).toEqual(names);
      expect(await migrate(d)).toEqual(names);
      expect(await migrate(d)).toEqual([]);
      expect(await pendingMigrations(d)).toEqual([]);
      expect(await appliedRows(d)).toEqual([...names].sort());
    } finally {
      await f.close();
    }
  });

  // In one process this only means something on PostgreSQL: better-sqlite3 is synchronous, so a second
  // SQLite handle waiting for the write lock would block the event loop of the first (processes are tested below).
  it.runIf(dialect === 'postgres')(
    'two handles migrating one fresh schema at once apply each migration exactly once',
    async () => {
      const f = await freshDatabase(dialect);
      try {
        const [a, b] = [f.open(), f.open()];
        const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
        expect([...ra, ...rb].sort()).toEqual([...names].sort());
        expect(await appliedRows(a)).toEqual([...names].sort());
      } finally {
        await f.close();
      }
    },
  );

  it('a failing migration rolls back entirely and is retried next time', async () => {
    const f = await freshDatabase(dialect);
    try {
      const d = f.open();
      const broken = {
        name: '9999_broken',
        up: async (db: Parameters<(typeof migrations)[number]['up']>[0]) => {
          await db.schema.createTable('half_written').addColumn('id', 'text').execute();
          await sql`select * from no_such_table`.execute(db);
        },
      };
      await expect(migrate(d, [migrations[0]!, broken])).rejects.toThrow(/9999_broken failed/);
      expect(await appliedRows(d)).toEqual([names[0]]);
      // SQLite and PostgreSQL both run DDL inside the transaction, so nothing was left behind.
      await expect(sql`select * from half_written`.execute(d.db)).rejects.toThrow();
      expect(await pendingMigrations(d, [migrations[0]!, broken])).toEqual(['9999_broken']);
    } finally {
      await f.close();
    }
  });
});

describe.runIf(testDialects().includes('postgres'))('first start of two apps at once on postgres', () => {
  it('both start (migrations, roles and the first admin exactly once) and serve the same admin', async () => {
    const f = await freshDatabase('postgres');
    const apps: App[] = [];
    try {
      const config = loadConfig({
        env: {},
        overrides: { data_dir: f.dataDir, database_url: postgresUrl(), admin_password: 'two-starts-password' },
      });
      const logger = createLogger({ log_level: 'silent', log_pretty: false });
      const started = await Promise.allSettled(
        [1, 2].map(() => createApp(config, { logger, dbSchema: f.schema!, startEngine: false })),
      );
      for (const r of started) if (r.status === 'fulfilled') apps.push(r.value);
      expect(started.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
      const d = f.open();
      expect(await appliedRows(d)).toEqual([...names].sort());
      expect(await new UserRepository().count(d.db)).toBe(1);
      for (const app of apps) {
        expect((await app.services.auth.login('admin', 'two-starts-password', {})).user.role).toBe('admin');
        expect(app.services.roles.permissionsOf('admin').has('user:manage')).toBe(true);
      }
    } finally {
      for (const app of apps) await app.stop();
      await f.close();
    }
  });
});

describe.each(testDialects())('readiness with pending migrations on %s', (dialect) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ dialect });
  });
  afterAll(async () => s?.close());

  it('/ready answers 503 naming the pending migration, and 200 once it is applied', async () => {
    expect((await s.request('GET', '/ready')).status).toBe(200);
    const last = names.at(-1)!;
    await sql`delete from clarion_migrations where name = ${last}`.execute(s.app.database.db);
    const res = await s.request('GET', '/ready');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('not ready');
    expect(res.body.checks.migrations.ok).toBe(false);
    expect(res.body.checks.migrations.error).toContain(last);
    expect(res.body.checks.database.ok).toBe(true);
    await sql`insert into clarion_migrations (name, applied_at) values (${last}, ${new Date().toISOString()})`.execute(
      s.app.database.db,
    );
    expect((await s.request('GET', '/ready')).status).toBe(200);
  });
});

describe.each(testDialects())('migrations from two processes on %s', (dialect) => {
  it(
    'two `clarion migrate` processes on one fresh database apply each migration exactly once',
    async () => {
      const f = await freshDatabase(dialect);
      try {
        const env: Record<string, string> = { CLARION_DATA_DIR: f.dataDir };
        if (f.schema) {
          // pg passes `options` to the server, so both processes work in the test's own schema.
          const base = postgresUrl();
          env.CLARION_DATABASE_URL = `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${f.schema}`)}`;
        }
        const [a, b] = await Promise.all([runClarion(['migrate'], env), runClarion(['migrate'], env)]);
        expect(a.code, a.stderr).toBe(0);
        expect(b.code, b.stderr).toBe(0);
        // The processes may share the work (on SQLite each migration is its own BEGIN IMMEDIATE, so one process
        // can apply the first ones and the other the rest): together they apply every migration once, and each
        // applies its share in order.
        const shares = [a.stdout, b.stdout].map((o) => /applied: (.*)/.exec(o)?.[1]?.split(', ') ?? []);
        for (const share of shares) expect(share).toEqual(names.filter((n) => share.includes(n)));
        expect(shares.flat().sort()).toEqual([...names].sort());
        expect(await appliedRows(f.open())).toEqual([...names].sort());
      } finally {
        await f.close();
      }
    },
    SLOW,
  );
});

describe.each(testDialects())('auth repositories on %s', (dialect) => {
  let f: Awaited<ReturnType<typeof freshDatabase>>;
  let d: Database;
  const users = new UserRepository();
  const sessions = new SessionRepository();
  const keys = new ApiKeyRepository();

  const user = (n: number, created: string, over: Partial<UserRow> = {}): UserRow => ({
    id: randomUUID(),
    username: `user_${n}`,
    email: `user_${n}@example.test`,
    password_hash: 'scrypt$x',
    role: n % 3 === 0 ? 'admin' : 'viewer',
    disabled: 0,
    must_change_password: 0,
    created_at: created,
    updated_at: created,
    ...over,
  });

  beforeAll(async () => {
    f = await freshDatabase(dialect);
    d = f.open();
    await migrate(d);
  });
  afterAll(async () => f?.close());

  it('inserts, finds and counts users; usernames and emails are unique', async () => {
    const u = user(1, '2026-01-01T00:00:00.000Z');
    await users.insert(d.db, u);
    expect(await users.findById(d.db, u.id)).toEqual(u);
    expect((await users.findByLogin(d.db, 'user_1'))?.id).toBe(u.id);
    expect((await users.findByLogin(d.db, 'USER_1@example.test'))?.id).toBe(u.id);
    expect(await users.findByLogin(d.db, 'nobody')).toBeUndefined();
    // The driver's duplicate error is recognised on both dialects (the services map it to USER_EXISTS).
    const dup = await users.insert(d.db, { ...user(1, u.created_at), id: randomUUID() }).catch((e: unknown) => e);
    expect(isUniqueViolation(dup)).toBe(true);
    const dupEmail = await users.insert(d.db, { ...user(99, u.created_at), email: u.email }).catch((e: unknown) => e);
    expect(isUniqueViolation(dupEmail)).toBe(true);
    expect(await users.count(d.db)).toBe(1);
  });

  it('lists users by cursor: every row once, in order, even with equal timestamps', async () => {
    const same = '2026-01-02T00:00:00.000Z';
    for (let n = 2; n <= 12; n++)
      await users.insert(d.db, user(n, n <= 6 ? same : `2026-01-0${(n % 7) + 3}T00:00:00.000Z`));
    const all = await users.list(d.db, { limit: 100 });
    expect(all).toHaveLength(12);
    const sorted = [...all].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
    expect(all.map((u) => u.id)).toEqual(sorted.map((u) => u.id));

    const seen: string[] = [];
    let after;
    for (;;) {
      const page = await users.list(d.db, { limit: 5, ...(after ? { after } : {}) });
      seen.push(...page.map((u) => u.id));
      if (page.length < 5) break;
      const last = page.at(-1)!;
      after = decodeCursor(encodeCursor({ k: last.created_at, id: last.id }));
    }
    expect(seen).toEqual(sorted.map((u) => u.id));

    expect((await users.list(d.db, { limit: 100, role: 'admin' })).every((u) => u.role === 'admin')).toBe(true);
    expect((await users.list(d.db, { limit: 100, q: 'user_1' })).map((u) => u.username).sort()).toEqual([
      'user_1',
      'user_10',
      'user_11',
      'user_12',
    ]);
    // Search ignores case the same way on both dialects (SQLite's LIKE does, PostgreSQL's does not).
    expect((await users.list(d.db, { limit: 100, q: 'USER_12' })).map((u) => u.username)).toEqual(['user_12']);
    // LIKE wildcards in the search text are taken literally.
    expect(await users.list(d.db, { limit: 100, q: '%' })).toEqual([]);
    expect(await users.list(d.db, { limit: 100, q: 'user__' })).toEqual([]);
    expect(await users.countActiveAdmins(d.db)).toBe(4);
  });

  it('revokes sessions one at a time or all of a user, and finds refresh tokens with their session', async () => {
    const u = (await users.findByLogin(d.db, 'user_2'))!;
    const mk = async () => {
      const id = randomUUID();
      await sessions.insertSession(d.db, {
        id,
        user_id: u.id,
        expires_at: '2099-01-01T00:00:00.000Z',
        revoked_at: null,
        revoked_reason: null,
        created_at: '2026-01-01T00:00:00.000Z',
        user_agent: null,
        ip: '127.0.0.1',
      });
      return id;
    };
    const [s1, s2, s3] = [await mk(), await mk(), await mk()];
    const rid = randomUUID();
    await sessions.insertRefresh(d.db, {
      id: rid,
      session_id: s1,
      token_hash: 'h1',
      used_at: null,
      replaced_by: null,
      created_at: '2026-01-01T00:00:00.000Z',
    });
    const found = await sessions.findRefresh(d.db, 'h1');
    expect(found?.session.id).toBe(s1);
    expect(found?.session.user_id).toBe(u.id);
    expect(await sessions.markUsed(d.db, rid, '2026-01-01T00:00:01.000Z', 'next-1')).toBe(true);
    expect(await sessions.markUsed(d.db, rid, '2026-01-01T00:00:02.000Z', 'next-2')).toBe(false);
    expect(await sessions.findUse(d.db, rid)).toEqual({ used_at: '2026-01-01T00:00:01.000Z', replaced_by: 'next-1' });

    await sessions.revokeSession(d.db, s1, '2026-01-02T00:00:00.000Z', 'logout');
    expect((await sessions.findSessionWithUser(d.db, s1))?.revoked_at).toBe('2026-01-02T00:00:00.000Z');
    expect((await sessions.findSessionWithUser(d.db, s2))?.revoked_at).toBeNull();
    await sessions.revokeAllForUser(d.db, u.id, '2026-01-03T00:00:00.000Z', 'disabled');
    expect((await sessions.findSessionWithUser(d.db, s2))?.revoked_at).toBe('2026-01-03T00:00:00.000Z');
    expect((await sessions.findSessionWithUser(d.db, s3))?.username).toBe('user_2');
    // An already revoked session keeps its first reason and time.
    expect((await sessions.findSessionWithUser(d.db, s1))?.revoked_at).toBe('2026-01-02T00:00:00.000Z');
  });

  it('looks API keys up by prefix with their owner, and scopes reads and revocation by owner', async () => {
    const owner = (await users.findByLogin(d.db, 'user_4'))!;
    const stranger = (await users.findByLogin(d.db, 'user_5'))!;
    const { prefix, hash } = generateApiKey();
    const id = randomUUID();
    await keys.insert(d.db, {
      id,
      user_id: owner.id,
      name: 'k',
      prefix,
      token_hash: hash,
      scopes: '["agent:read"]',
      expires_at: null,
      last_used_at: null,
      revoked_at: null,
      created_at: '2026-01-01T00:00:00.000Z',
    });
    const row = await keys.findByPrefixWithUser(d.db, prefix);
    expect(row).toMatchObject({ key_id: id, token_hash: hash, username: 'user_4', scopes: '["agent:read"]' });
    expect(await keys.findByPrefixWithUser(d.db, 'clk_nope')).toBeUndefined();
    expect(await keys.findForUser(d.db, stranger.id, id)).toBeUndefined();
    expect(await keys.listForUser(d.db, stranger.id)).toEqual([]);
    await keys.revoke(d.db, stranger.id, id, '2026-01-02T00:00:00.000Z');
    expect((await keys.findForUser(d.db, owner.id, id))?.revoked_at).toBeNull();
    await keys.revoke(d.db, owner.id, id, '2026-01-02T00:00:00.000Z');
    expect((await keys.findForUser(d.db, owner.id, id))?.revoked_at).toBe('2026-01-02T00:00:00.000Z');
    // Deleting the owner deletes their keys (foreign key cascade is on for both dialects).
    await users.delete(d.db, owner.id);
    expect(await keys.findByPrefixWithUser(d.db, prefix)).toBeUndefined();
  });
});
