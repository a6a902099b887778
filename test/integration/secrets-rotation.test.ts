import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { buildProgram } from '../../src/cli/program.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { parseMasterKey, SecretBox } from '../../src/secrets/secret-box.js';
import { createPgSchema, postgresUrl, testDialects } from '../helpers/databases.js';

const CANARY = 'rotation-canary-5d1f0e-secret';
const PROVIDER_KEY = 'sk-rotation-provider-key-secret';

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

describe.each(testDialects())('master key and rotation on %s', (dialect) => {
  let dir: string;
  let dataDir: string;
  let configFile: string;
  let dropSchema: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-secrets-'));
    dataDir = path.join(dir, 'data');
    let dbLine = '';
    if (dialect === 'postgres') {
      const pg = await createPgSchema();
      dropSchema = pg.drop;
      const url = new URL(postgresUrl());
      url.searchParams.set('options', `-c search_path=${pg.schema}`);
      dbLine = `database_url: ${JSON.stringify(url.toString())}\n`;
    }
    configFile = path.join(dir, 'clarion.yaml');
    fs.writeFileSync(
      configFile,
      `data_dir: ${JSON.stringify(dataDir)}\nadmin_password: rotation-admin-password\nlog_level: silent\n${dbLine}`,
    );
  });
  afterAll(async () => {
    await dropSchema?.();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function withApp<T>(env: Record<string, string>, fn: (app: App) => Promise<T>): Promise<T> {
    const config = loadConfig({ file: configFile, env });
    const app = await createApp(config, {
      logger: createLogger({ log_level: 'silent', log_pretty: false }),
      announce: () => {},
      startEngine: false,
    });
    try {
      return await fn(app);
    } finally {
      await app.stop();
    }
  }

  const storedConfig = (app: App) =>
    app.database.db.selectFrom('targets').select('config').where('name', '=', 'api').executeTakeFirstOrThrow();
  const sealedIn = (text: string) => /"(enc:v1:[^"]+)"/.exec(text)![1]!;

  it('creates the key file 0600, rotates every sealed value, and refuses a missing or wrong key', async () => {
    const before = await withApp({}, async (app) => {
      const admin = (await app.services.users.findByLogin('admin'))!;
      await app.services.targets.create(admin.id, {
        name: 'api',
        type: 'http',
        config: { base_url: 'https://api.example.com', auth: { type: 'bearer', token: CANARY } },
      });
      // Another module's sealed column (LLM provider keys) rotates with the targets.
      const now = new Date().toISOString();
      await app.database.db
        .insertInto('llm_providers')
        .values({
          id: 'prov-1',
          name: 'rotation-provider',
          kind: 'openai',
          base_url: 'https://api.example.com/v1',
          api_key: app.secrets.seal(PROVIDER_KEY),
          models: '[]',
          enabled: 0,
          created_by: admin.id,
          created_at: now,
          updated_at: now,
        })
        .execute();
      return { userId: admin.id, stored: (await storedConfig(app)).config };
    });
    const keyFile = path.join(dataDir, 'secret.key');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const oldKey = fs.readFileSync(keyFile, 'utf8').trim();
    const oldBox = new SecretBox(parseMasterKey(oldKey));
    expect(oldBox.open(sealedIn(before.stored))).toBe(CANARY);

    const out = await cli(configFile, 'secrets', 'rotate');
    expect(out).toMatch(new RegExp(`master key rotated: ${oldBox.keyId} -> [0-9a-f]{8}`));
    expect(out).toContain('targets: 1 row(s) re-encrypted');
    expect(out).toContain('llm_providers: 1 row(s) re-encrypted');
    expect(out).not.toContain(PROVIDER_KEY);
    expect(out).not.toContain(CANARY);
    expect(fs.existsSync(`${keyFile}.old`)).toBe(false);
    expect(fs.existsSync(`${keyFile}.new`)).toBe(false);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const newBox = new SecretBox(parseMasterKey(fs.readFileSync(keyFile, 'utf8')));
    expect(newBox.keyId).not.toBe(oldBox.keyId);

    await withApp({}, async (app) => {
      const sealed = sealedIn((await storedConfig(app)).config);
      expect(newBox.open(sealed)).toBe(CANARY);
      expect(() => oldBox.open(sealed)).toThrow();
      const t = await app.services.targets.resolveForRun(before.userId, 'api');
      expect(t.config).toMatchObject({ auth: { token: CANARY } });
      const provider = await app.database.db
        .selectFrom('llm_providers')
        .select('api_key')
        .where('id', '=', 'prov-1')
        .executeTakeFirstOrThrow();
      expect(newBox.open(provider.api_key!)).toBe(PROVIDER_KEY);
      expect(() => oldBox.open(provider.api_key!)).toThrow();
    });

    // The old key no longer starts the server; neither does a missing key file.
    await expect(withApp({ CLARION_SECRET_KEY: oldKey }, async () => {})).rejects.toThrow(/not the key that encrypted/);
    fs.renameSync(keyFile, `${keyFile}.moved`);
    await expect(withApp({}, async () => {})).rejects.toThrow(/master key file .* is missing/);
    await expect(cli(configFile, 'secrets', 'rotate')).rejects.toThrow(/there is no master key to rotate/);
    expect(fs.existsSync(keyFile)).toBe(false);
    fs.renameSync(`${keyFile}.moved`, keyFile);

    // Rotation with the key from the environment needs the new key given explicitly.
    const envKey = fs.readFileSync(keyFile, 'utf8').trim();
    const nextKey = randomBytes(32).toString('base64');
    process.env.CLARION_SECRET_KEY = envKey;
    try {
      await expect(cli(configFile, 'secrets', 'rotate')).rejects.toThrow(/pass --new-key/);
      const out2 = await cli(configFile, 'secrets', 'rotate', '--new-key', nextKey, '--json');
      expect(JSON.parse(out2)).toMatchObject({ tables: { targets: 1 } });
    } finally {
      delete process.env.CLARION_SECRET_KEY;
    }
    await withApp({ CLARION_SECRET_KEY: nextKey }, async (app) => {
      const t = await app.services.targets.resolveForRun(before.userId, 'api');
      expect(t.config).toMatchObject({ auth: { token: CANARY } });
    });
  });
});
