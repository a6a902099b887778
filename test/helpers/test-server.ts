import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { expect } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, type ConfigKey } from '../../src/config/config.js';
import { redactPaths } from '../../src/logger.js';
import { createPgSchema, postgresUrl, type TestDialect } from './databases.js';

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  token?: string | undefined;
  body?: unknown;
  headers?: Record<string, string>;
  /** Send this string as the body instead of JSON. */
  raw?: string;
  /** Abort the request (streams such as SSE never end on their own). */
  signal?: AbortSignal;
}

export interface TestServer {
  url: string;
  app: App;
  dialect: TestDialect;
  dataDir: string;
  /** The PostgreSQL schema of its database (postgres only). */
  dbSchema: string | undefined;
  admin: { username: string; password: string; token: string };
  /** Every log line the server wrote, as text. */
  logs: string[];
  /** Every response body the server sent, as text (for leak checks). */
  responses: string[];
  request<T = any>(method: string, url: string, opts?: RequestOptions): Promise<HttpResult<T>>;
  login(username: string, password: string): Promise<{ access_token: string; refresh_token: string }>;
  /** Creates a user with this role through the API and signs in as them. */
  createUser(
    role: 'admin' | 'operator' | 'viewer',
    name?: string,
  ): Promise<{ id: string; username: string; password: string; token: string }>;
  close(): Promise<void>;
}

export const ADMIN_PASSWORD = 'admin-password-for-tests';
let counter = 0;

/** Starts the real server on a free port with a real database (a temp folder, or a fresh PostgreSQL schema). */
export async function startTestServer(
  opts: {
    dialect?: TestDialect;
    config?: Partial<Record<ConfigKey, unknown>>;
    /** A clarion.yaml to read (under the overrides), as `--config FILE` would. */
    configFile?: string;
    /** The environment the config is read from (default empty: the test runner's own is never used). */
    env?: NodeJS.ProcessEnv;
    /**
     * Another process of the same deployment: this server uses that one's database, data folder and keys (its
     * dialect too). The first server owns them: closing this one leaves them.
     */
    shareDatabaseWith?: TestServer;
  } = {},
): Promise<TestServer> {
  const peer = opts.shareDatabaseWith;
  const dialect = peer?.dialect ?? opts.dialect ?? 'sqlite';
  const dataDir = peer?.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-test-'));
  const pgSchema = peer
    ? peer.dbSchema !== undefined
      ? { schema: peer.dbSchema, drop: async () => {} }
      : undefined
    : dialect === 'postgres'
      ? await createPgSchema()
      : undefined;
  const config = loadConfig({
    env: opts.env ?? {},
    cwd: dataDir,
    ...(opts.configFile ? { file: opts.configFile } : {}),
    overrides: {
      host: '127.0.0.1',
      port: 0,
      data_dir: dataDir,
      admin_password: ADMIN_PASSWORD,
      log_level: 'info',
      ...(pgSchema ? { database_url: postgresUrl() } : {}),
      ...opts.config,
    },
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = pino({ level: config.log_level, redact: { paths: redactPaths, censor: '[redacted]' } }, sink);
  const responses: string[] = [];
  const app = await createApp(config, {
    logger,
    ...(pgSchema ? { dbSchema: pgSchema.schema } : {}),
    announce: (m) => logs.push(m),
    configureServer: (server) =>
      server.addHook('onSend', async (_req, _reply, payload) => {
        if (typeof payload === 'string') responses.push(payload);
        return payload;
      }),
  });
  const url = await app.listen();

  const request = async <T = any>(method: string, p: string, o: RequestOptions = {}): Promise<HttpResult<T>> => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(url + p, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  };

  const login = async (username: string, password: string) => {
    const res = await request('POST', '/api/v1/auth/login', { body: { username, password } });
    if (res.status !== 200) throw new Error(`login ${username} failed: ${res.status} ${res.text}`);
    return res.body as { access_token: string; refresh_token: string };
  };

  // Mutable: a test that ends the admin's session signs in again and stores the new token here.
  const admin = {
    username: config.admin_username,
    password: ADMIN_PASSWORD,
    token: (await login(config.admin_username, ADMIN_PASSWORD)).access_token,
  };

  return {
    url,
    app,
    dialect,
    dataDir,
    dbSchema: pgSchema?.schema,
    admin,
    logs,
    responses,
    request,
    login,
    async createUser(role, name) {
      const username = name ?? `${role}${++counter}${Date.now() % 100000}`;
      const password = `pw-${username}-secret`;
      const res = await request('POST', '/api/v1/users', {
        token: admin.token,
        body: { username, email: `${username}@example.test`, password, role },
      });
      if (res.status !== 201) throw new Error(`create user failed: ${res.status} ${res.text}`);
      // Users made by an admin with a password set need no change; sign in straight away.
      const token = (await login(username, password)).access_token;
      return { id: res.body.user.id, username, password, token };
    },
    async close() {
      await app.stop();
      if (peer) return;
      await pgSchema?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Adds a provider (as the admin) that points at a fake upstream: its OpenAI-compatible `/v1` for `openai`, the
 * server's root for the other kinds. Fails the test unless it is created.
 */
export async function addFakeProvider(
  s: TestServer,
  fake: { url: string },
  o: { name: string; kind?: string; key?: string; models?: string[] },
): Promise<{ id: string; name: string }> {
  const kind = o.kind ?? 'openai';
  const res = await s.request('POST', '/api/v1/providers', {
    token: s.admin.token,
    body: {
      name: o.name,
      kind,
      base_url: kind === 'openai' ? `${fake.url}/v1` : fake.url,
      ...(o.key ? { api_key: o.key } : {}),
      models: o.models ?? ['gpt-4o-mini', 'text-embedding-3-small', 'claude-3-5-haiku-latest'],
    },
  });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; name: string };
}
