import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';

/**
 * `npm start` runs the esbuild bundle (scripts/build-server.mjs), not the sources the other suites run through
 * tsx. What only the bundle can get wrong is checked here on a fresh build: a package loaded with import()
 * (undici, at the first model call), packages that read files beside their code (the /docs UI), the start and
 * a clean stop.
 */
const root = path.resolve(import.meta.dirname, '../..');
// Inside the package root: the bundle finds node_modules one folder up.
const outDir = path.join(root, `.bundle-test-${process.pid}`);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-bundle-'));
const PASSWORD = 'bundle-admin-password';

let server: ChildProcess;
let base: string;
let fake: FakeLlm;
let output = '';

beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/build-server.mjs', outDir], { cwd: root, stdio: 'pipe' });
  fake = await startFakeLlm();
  server = spawn(process.execPath, [path.join(outDir, 'main.js'), 'serve'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      CLARION_PORT: '0',
      CLARION_DATA_DIR: dataDir,
      CLARION_ADMIN_PASSWORD: PASSWORD,
      CLARION_LLM_AUTODETECT: 'false',
      CLARION_ENGINE_ENABLED: 'false',
      // The Redis event bus loads ioredis with import() too (CI always has Redis).
      ...(process.env.CLARION_TEST_REDIS_URL ? { CLARION_REDIS_URL: process.env.CLARION_TEST_REDIS_URL } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  base = await new Promise<string>((resolve, reject) => {
    server.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /"url":"(http:[^"]+)"/.exec(output);
      if (m) resolve(m[1]!);
    });
    server.on('close', (code) => reject(new Error(`the bundle exited ${code}: ${output}`)));
  });
}, 120_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGKILL');
    await new Promise((r) => server.once('close', r));
  }
  await fake?.close();
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function call(method: string, url: string, token?: string, body?: unknown) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, json: (text.startsWith('{') ? JSON.parse(text) : undefined) as any };
}

describe('the server bundle (dist/main.js)', () => {
  it('answers a model call through the gateway (undici loaded on first use)', async () => {
    const login = await call('POST', '/api/v1/auth/login', undefined, { username: 'admin', password: PASSWORD });
    expect(login.status).toBe(200);
    const token = login.json.access_token as string;
    const provider = await call('POST', '/api/v1/providers', token, {
      name: 'fake',
      kind: 'openai',
      base_url: `${fake.url}/v1`,
      models: ['gpt-4o-mini'],
    });
    expect(provider.status).toBe(201);
    const chat = await call('POST', '/v1/chat/completions', token, {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello bundle' }],
    });
    expect(chat.status, chat.text).toBe(200);
    expect(chat.json.choices[0].message.content).toEqual(expect.any(String));
    expect(fake.calls.length).toBe(1);
  });

  it('serves the API description and the /docs UI files from node_modules', async () => {
    expect((await call('GET', '/api/v1/openapi.json')).json.openapi).toBe('3.1.0');
    const docs = await call('GET', '/docs/static/index.css');
    expect(docs.status).toBe(200);
    expect(docs.text.length).toBeGreaterThan(100);
  });

  it('connects its event bus to Redis when configured (no bus errors)', async () => {
    if (!process.env.CLARION_TEST_REDIS_URL) return;
    await new Promise((r) => setTimeout(r, 300));
    expect(output).not.toContain('event bus error');
  });

  it('stops on SIGTERM with exit code 0', async () => {
    const closed = new Promise<number | null>((r) => server.once('close', (code) => r(code)));
    server.kill('SIGTERM');
    expect(await closed).toBe(0);
    expect(output).toContain('"msg":"stopped"');
  });
});
