import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { buildProgram } from '../../src/cli/program.js';
import { loadConfig } from '../../src/config/config.js';
import { migrations } from '../../src/db/migrations/index.js';
import { createLogger } from '../../src/logger.js';
import { runClarion } from '../helpers/clarion-process.js';

const ADMIN_PASSWORD = 'cli-admin-password-secret';
/** Each command opens the whole app (or starts a process); on a busy machine a dozen of them take a while. */
const SLOW = 120_000;
const JWT_SECRET = 'cli-jwt-secret-'.padEnd(48, 'x');

/**
 * Runs a command in this process (the same code the `clarion` bin runs), capturing what it prints.
 * Child processes cost about a second each, so only a few tests below spawn the real bin.
 */
async function cli(configFile: string, ...args: string[]): Promise<string> {
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    await buildProgram()
      .exitOverride()
      .parseAsync(['node', 'clarion', '-c', configFile, ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out.join('');
}

describe('clarion command line', () => {
  let dir: string;
  let configFile: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-cli-'));
    configFile = path.join(dir, 'clarion.yaml');
    fs.writeFileSync(
      configFile,
      `data_dir: ${JSON.stringify(path.join(dir, 'data'))}\nadmin_password: ${ADMIN_PASSWORD}\njwt_secret: ${JWT_SECRET}\nlog_level: warn\n`,
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Opens the app on the same data the commands changed, to check their effect through the services. */
  async function withApp<T>(fn: (app: App) => Promise<T>): Promise<T> {
    const config = loadConfig({ file: configFile, env: {} });
    const app = await createApp(config, { logger: createLogger({ log_level: 'silent', log_pretty: false }) });
    try {
      return await fn(app);
    } finally {
      await app.stop();
    }
  }

  it(
    '`clarion migrate` (the real bin) applies every migration to a fresh data folder, then nothing',
    async () => {
      const first = await runClarion(['-c', configFile, 'migrate'], {});
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain(`applied: ${migrations.map((m) => m.name).join(', ')}`);
      expect(fs.existsSync(path.join(dir, 'data', 'clarion.db'))).toBe(true);
      expect(await cli(configFile, 'migrate', '--status')).toBe('up to date\n');
      expect(await cli(configFile, 'migrate')).toBe('up to date\n');
    },
    SLOW,
  );

  it(
    '`clarion config` (the real bin) prints the effective config with secrets masked',
    async () => {
      const res = await runClarion(['-c', configFile, 'config'], {
        CLARION_PORT: '9123',
        CLARION_DATABASE_URL: 'postgres://u:db-pass-secret@localhost/x',
      });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('port = 9123    # env, CLARION_PORT');
      expect(res.stdout).toContain('admin_password = "********"    # file, CLARION_ADMIN_PASSWORD');
      expect(res.stdout).toContain('jwt_secret = "********"');
      expect(res.stdout).toContain('database_url = "********"');
      expect(res.stdout).toContain(`# file: ${configFile}`);
      for (const secret of [ADMIN_PASSWORD, JWT_SECRET, 'db-pass-secret']) expect(res.stdout).not.toContain(secret);

      const json = JSON.parse(await cli(configFile, 'config', '--json'));
      expect(json.admin_password).toEqual({ value: '********', source: 'file', env: 'CLARION_ADMIN_PASSWORD' });
      expect(json.host.value).toBe('127.0.0.1');
    },
    SLOW,
  );

  it(
    'user create | list | reset-password | set-role',
    async () => {
      const created = JSON.parse(
        await cli(configFile, 'user', 'create', 'alice', 'alice@example.test', '-r', 'operator', '--json'),
      );
      expect(created.user).toMatchObject({ username: 'alice', role: 'operator', must_change_password: true });
      expect(created.password.length).toBeGreaterThanOrEqual(16);
      expect(created.user).not.toHaveProperty('password_hash');
      const chosen = await cli(configFile, 'user', 'create', 'bob', 'bob@example.test', '-p', 'bob-password-1');
      expect(chosen).toBe('created bob (viewer)\n');

      const list = JSON.parse(await cli(configFile, 'user', 'list', '--json')) as { username: string; role: string }[];
      expect(list.map((u) => `${u.username}:${u.role}`).sort()).toEqual([
        'admin:admin',
        'alice:operator',
        'bob:viewer',
      ]);
      expect(JSON.stringify(list)).not.toContain('scrypt$');

      const reset = await cli(configFile, 'user', 'reset-password', 'alice', '-p', 'alice-reset-pw-1');
      expect(reset).toBe('password for alice: alice-reset-pw-1\n');
      const generated = /password for bob: (\S+)/.exec(await cli(configFile, 'user', 'reset-password', 'bob'))![1]!;

      expect(await cli(configFile, 'user', 'set-role', 'alice', 'viewer')).toBe('alice is now viewer\n');
      await expect(cli(configFile, 'user', 'set-role', 'alice', 'superuser')).rejects.toThrow(/role must be one of/);
      await expect(cli(configFile, 'user', 'set-role', 'admin', 'operator')).rejects.toMatchObject({
        code: 'LAST_ADMIN',
      });

      await withApp(async (app) => {
        const alice = await app.services.auth.login('alice', 'alice-reset-pw-1', {});
        expect(alice.user).toMatchObject({ role: 'viewer', must_change_password: true });
        const bob = await app.services.auth.login('bob', generated, {});
        expect(bob.user.must_change_password).toBe(true);
        await expect(app.services.auth.login('bob', 'bob-password-1', {})).rejects.toMatchObject({
          code: 'INVALID_CREDENTIALS',
        });
      });
    },
    SLOW,
  );

  it(
    'token create | list | revoke',
    async () => {
      await cli(configFile, 'user', 'create', 'carol', 'carol@example.test', '-r', 'operator', '-p', 'carol-password');
      const key = (await cli(configFile, 'token', 'create', 'carol', 'ci', '-s', 'agent:read,apikey:manage')).trim();
      expect(key).toMatch(/^clk_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
      const full = JSON.parse(await cli(configFile, 'token', 'create', 'carol', 'all', '-d', '7', '--json'));
      expect(full.api_key.expires_at).not.toBeNull();

      const listed = await cli(configFile, 'token', 'list', 'carol', '--json');
      const keys = JSON.parse(listed) as { id: string; name: string; prefix: string; scopes: string[] | null }[];
      expect(keys.map((k) => k.name).sort()).toEqual(['all', 'ci']);
      expect(listed).not.toContain(key);
      expect(listed).not.toContain(full.key);
      expect(listed).not.toContain('token_hash');
      const ci = keys.find((k) => k.name === 'ci')!;
      expect(key.startsWith(ci.prefix)).toBe(true);
      expect(ci.scopes).toEqual(['agent:read', 'apikey:manage']);

      // Scopes never exceed the user's role, and unknown permissions are refused.
      await expect(cli(configFile, 'token', 'create', 'carol', 'x', '-s', 'user:manage')).rejects.toMatchObject({
        code: 'ROLE_ESCALATION',
      });
      await expect(cli(configFile, 'token', 'create', 'carol', 'x', '-s', 'agent:fly')).rejects.toThrow(
        /unknown permission/,
      );
      await expect(cli(configFile, 'token', 'create', 'carol', 'x', '-d', 'soon')).rejects.toThrow(/--days/);

      await withApp(async (app) => {
        const p = await app.services.auth.authenticate(key);
        expect(p.username).toBe('carol');
        expect([...p.permissions].sort()).toEqual(['agent:read', 'apikey:manage']);
      });

      expect(await cli(configFile, 'token', 'revoke', 'carol', ci.id)).toBe(`revoked ${ci.prefix}\n`);
      // Another user's key id is not found, never revoked.
      await expect(cli(configFile, 'token', 'revoke', 'alice', full.api_key.id)).rejects.toMatchObject({
        code: 'API_KEY_NOT_FOUND',
      });
      await withApp(async (app) => {
        await expect(app.services.auth.authenticate(key)).rejects.toMatchObject({ code: 'API_KEY_INVALID' });
        expect((await app.services.auth.authenticate(full.key)).username).toBe('carol');
      });
    },
    SLOW,
  );
});
