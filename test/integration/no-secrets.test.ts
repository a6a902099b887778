import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../../src/http/auth-hook.js';
import { testDialects } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');
const count = (haystack: string[], needle: string) =>
  haystack.reduce((n, text) => n + (text.split(needle).length - 1), 0);

describe.each(testDialects())('no secrets in responses or logs on %s', (dialect) => {
  let s: TestServer;
  /** Every password, key and token the flows below create. */
  const passwords: string[] = [];
  const refreshTokens: string[] = [];
  const accessTokens: string[] = [];
  const apiKeys: string[] = [];
  /** Shown once by design: a generated password, and a reset password the admin chose. */
  const shownOnce: string[] = [];

  beforeAll(async () => {
    s = await startTestServer({ dialect, config: { auth_attempts_per_minute: 10_000, log_level: 'debug' } });
    passwords.push(s.admin.password);
    accessTokens.push(s.admin.token);

    // Sign-in flows: login, refresh (twice, and a replay), logout.
    const pair = await s.login('admin', s.admin.password);
    refreshTokens.push(pair.refresh_token);
    accessTokens.push(pair.access_token);
    let refresh = pair.refresh_token;
    for (let i = 0; i < 2; i++) {
      const r = await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: refresh } });
      expect(r.status).toBe(200);
      refresh = r.body.refresh_token;
      refreshTokens.push(refresh);
      accessTokens.push(r.body.access_token);
    }
    await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } });
    const other = await s.login('admin', s.admin.password);
    refreshTokens.push(other.refresh_token);
    accessTokens.push(other.access_token);
    await s.request('POST', '/api/v1/auth/logout', {
      token: other.access_token,
      body: { refresh_token: other.refresh_token },
    });

    // Users: created with a chosen password, with a generated one, registered, reset, changed.
    const op = await s.createUser('operator');
    passwords.push(op.password);
    accessTokens.push(op.token);
    const gen = await s.request('POST', '/api/v1/users', {
      token: s.admin.token,
      body: { username: 'generated1', email: 'generated1@example.test', role: 'viewer' },
    });
    expect(gen.status).toBe(201);
    shownOnce.push(gen.body.password);
    const reg = { username: 'registered1', email: 'registered1@example.test', password: 'registered-secret-pw' };
    passwords.push(reg.password);
    expect((await s.request('POST', '/api/v1/auth/register', { token: s.admin.token, body: reg })).status).toBe(201);
    const reset = await s.request('POST', `/api/v1/users/${gen.body.user.id}/reset-password`, {
      token: s.admin.token,
      body: { password: 'reset-chosen-secret' },
    });
    expect(reset.status).toBe(200);
    shownOnce.push('reset-chosen-secret');
    const regToken = (await s.login(reg.username, reg.password)).access_token;
    accessTokens.push(regToken);
    const changed = await s.request('POST', '/api/v1/auth/password', {
      token: regToken,
      body: { current_password: reg.password, new_password: 'changed-secret-pw' },
    });
    expect(changed.status).toBe(204);
    passwords.push('changed-secret-pw');

    // Failures that carry secrets in the request: wrong password, bad JSON, unknown field, bad key.
    await s.request('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'wrong-secret-guess' } });
    passwords.push('wrong-secret-guess');
    await s.request('POST', '/api/v1/auth/login', {
      raw: '{"username":"admin","password":"json-broken-secret"',
      headers: { 'content-type': 'application/json' },
    });
    passwords.push('json-broken-secret');
    await s.request('POST', '/api/v1/auth/login', {
      body: { username: 'admin', password: 'extra-field-secret', remember: true },
    });
    passwords.push('extra-field-secret');
    await s.request('POST', '/api/v1/auth/password', {
      token: s.admin.token,
      body: { current_password: 'wrong-current-secret', new_password: 'next-secret-value' },
    });
    passwords.push('wrong-current-secret', 'next-secret-value');

    // API keys: created (twice), used, revoked, used after revocation.
    for (const name of ['first', 'second']) {
      const k = await s.request('POST', '/api/v1/api-keys', { token: op.token, body: { name } });
      expect(k.status).toBe(201);
      apiKeys.push(k.body.key);
      await s.request('GET', '/api/v1/auth/me', { token: k.body.key });
    }
    const keys = await s.request('GET', '/api/v1/api-keys', { token: op.token });
    await s.request('DELETE', `/api/v1/api-keys/${keys.body.items[0].id}`, { token: op.token });
    await s.request('GET', '/api/v1/auth/me', { token: apiKeys[0] });
    await s.request('GET', '/api/v1/auth/me', { token: apiKeys[0]!.slice(0, -2) + 'zz' });

    // Every GET route, as the admin, with ids of real resources where the route takes one.
    const adminId = (await s.request('GET', '/api/v1/auth/me', { token: s.admin.token })).body.user.id;
    for (const r of registeredRoutes(s.app.server)) {
      if (r.method !== 'GET' || r.url.includes('*')) continue;
      if (r.url === '/ws') continue; // the WebSocket hub: not a request/response route
      const url = r.url.replace(/:id\b/g, adminId).replace(/:[A-Za-z_]+/g, 'x');
      for (const token of [s.admin.token, apiKeys[1]]) {
        // An event stream never ends by itself; what it sent so far is still recorded by the server.
        await s.request('GET', url, { token, signal: AbortSignal.timeout(5000) }).catch((err: Error) => {
          if (err.name !== 'TimeoutError' && err.name !== 'AbortError') throw err;
        });
      }
    }
  });
  afterAll(async () => s?.close());

  it('drove a real set of flows', () => {
    expect(s.responses.length).toBeGreaterThan(40);
    expect(refreshTokens.length).toBe(4);
    expect(apiKeys.length).toBe(2);
    expect(s.logs.length).toBeGreaterThan(40);
  });

  it('never returns a password hash, a token hash or a server key', () => {
    const all = s.responses.join('\n');
    expect(all).not.toContain('scrypt$');
    expect(all).not.toContain('password_hash');
    expect(all).not.toContain('token_hash');
    for (const t of [...refreshTokens, ...apiKeys, ...accessTokens]) expect(all).not.toContain(sha256(t));
    for (const file of ['jwt.key', 'secret.key']) {
      const value = fs.readFileSync(path.join(s.dataDir, file), 'utf8').trim();
      expect(all).not.toContain(value);
    }
  });

  it('never returns a password the client chose, nor the admin password', () => {
    for (const p of passwords) expect(count(s.responses, p), p).toBe(0);
    // A generated or admin-reset password appears only in the response that set it.
    for (const p of shownOnce) expect(count(s.responses, p), p).toBe(1);
  });

  it('returns each refresh token and API key only in the response that issued it', () => {
    for (const t of refreshTokens) expect(count(s.responses, t), t.slice(0, 8)).toBe(1);
    for (const k of apiKeys) expect(count(s.responses, k)).toBe(1);
    // The listed prefix is fine; the secret part never shows again.
    for (const k of apiKeys) expect(count(s.responses, k.slice(-43))).toBe(1);
  });

  it('never logs a password, key, token or server key', () => {
    const logs = s.logs.join('\n');
    const secrets = [
      ...passwords,
      ...shownOnce,
      ...refreshTokens,
      ...apiKeys,
      ...accessTokens,
      ...apiKeys.map((k) => k.slice(-43)),
      ...[...refreshTokens, ...apiKeys].map(sha256),
      fs.readFileSync(path.join(s.dataDir, 'jwt.key'), 'utf8').trim(),
      fs.readFileSync(path.join(s.dataDir, 'secret.key'), 'utf8').trim(),
    ];
    for (const secret of secrets) expect(logs.includes(secret), `log contains ${secret.slice(0, 6)}…`).toBe(false);
    expect(logs).not.toContain('scrypt$');
  });
});
