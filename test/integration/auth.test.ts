import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe.each(testDialects())('auth on %s', (dialect) => {
  let s: TestServer;
  let jwtKey: Uint8Array;
  let adminId: string;
  let adminSession: string;

  beforeAll(async () => {
    // Many sign-ins and deliberate bad tokens here: the per-address attempt limit is tested in http.test.ts.
    // Strict rotation here (no grace window): the grace window has its own suite below. Checked credentials are
    // cached for 200 ms, so every revocation below must also clear the cache (DB edits behind its back wait it out).
    s = await startTestServer({
      dialect,
      config: { auth_attempts_per_minute: 10_000, refresh_token_reuse_grace: '0s', auth_cache_ttl: '200ms' },
    });
    jwtKey = new TextEncoder().encode(fs.readFileSync(path.join(s.dataDir, 'jwt.key'), 'utf8').trim());
    const [, payload] = s.admin.token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { sub: string; sid: string };
    adminId = claims.sub;
    adminSession = claims.sid;
  });
  afterAll(async () => s?.close());

  const me = (token: string) => s.request('GET', '/api/v1/auth/me', { token });
  /** Outlasts the credential cache (a change written straight to the database does not clear it). */
  const cacheExpiry = () => new Promise((r) => setTimeout(r, 250));

  /** A token with valid claims for the admin's live session, signed however the test wants. */
  const claimsBuilder = () =>
    new SignJWT({ sid: adminSession })
      .setSubject(adminId)
      .setIssuer('clarion')
      .setAudience('clarion-api')
      .setIssuedAt();

  it('signs in and answers /auth/me; wrong password and unknown user get the same 401', async () => {
    const res = await s.request('POST', '/api/v1/auth/login', {
      body: { username: 'admin', password: s.admin.password },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', user: { username: 'admin', role: 'admin' } });
    expect(res.body.expires_in).toBeGreaterThan(0);
    expect(res.body.refresh_token).toMatch(/^clr_/);
    expect(res.body.user).not.toHaveProperty('password_hash');
    const who = await me(res.body.access_token);
    expect(who.status).toBe(200);
    expect(who.body.via).toBe('jwt');
    expect(who.body.permissions).toContain('user:manage');

    const wrong = await s.request('POST', '/api/v1/auth/login', {
      body: { username: 'admin', password: 'not-it-at-all' },
    });
    const unknown = await s.request('POST', '/api/v1/auth/login', {
      body: { username: 'nobody', password: 'whatever1' },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.error.code).toBe('INVALID_CREDENTIALS');

    expect((await s.request('GET', '/api/v1/auth/me')).body.error.code).toBe('UNAUTHENTICATED');
    const badScheme = await s.request('GET', '/api/v1/auth/me', {
      headers: { authorization: `Basic ${s.admin.token}` },
    });
    expect(badScheme.status).toBe(401);
  });

  it('rotates refresh tokens: the new one works, the old one is refused', async () => {
    const first = await s.login('admin', s.admin.password);
    const r1 = await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } });
    expect(r1.status).toBe(200);
    expect(r1.body.refresh_token).not.toBe(first.refresh_token);
    expect((await me(r1.body.access_token)).status).toBe(200);
    const r2 = await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: r1.body.refresh_token } });
    expect(r2.status).toBe(200);
    const old = await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } });
    expect(old.status).toBe(401);
    const bogus = await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: 'clr_not-a-token' } });
    expect(bogus.status).toBe(401);
    expect(bogus.body.error.code).toBe('REFRESH_TOKEN_INVALID');
  });

  it('reusing a rotated refresh token revokes the whole family, newest token and access token included', async () => {
    const first = await s.login('admin', s.admin.password);
    const second = await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } });
    expect(second.status).toBe(200);
    expect((await me(second.body.access_token)).status).toBe(200);

    const replay = await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('REFRESH_TOKEN_REUSED');

    const newest = await s.request('POST', '/api/v1/auth/refresh', {
      body: { refresh_token: second.body.refresh_token },
    });
    expect(newest.status).toBe(401);
    const access = await me(second.body.access_token);
    expect(access.status).toBe(401);
    expect(access.body.error.code).toBe('SESSION_REVOKED');
    const firstAccess = await me(first.access_token);
    expect(firstAccess.status).toBe(401);
    // Other sessions of the same user are untouched.
    expect((await me(s.admin.token)).status).toBe(200);
  });

  it('two concurrent refreshes with one token: exactly one wins and the family is revoked', async () => {
    const first = await s.login('admin', s.admin.password);
    const both = await Promise.all([
      s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } }),
      s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 401]);
    const winner = both.find((r) => r.status === 200)!;
    expect((await me(winner.body.access_token)).status).toBe(401);
  });

  it('logout revokes the access token and the refresh token', async () => {
    const pair = await s.login('admin', s.admin.password);
    const out = await s.request('POST', '/api/v1/auth/logout', {
      token: pair.access_token,
      body: { refresh_token: pair.refresh_token },
    });
    expect(out.status).toBe(204);
    const after = await me(pair.access_token);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('SESSION_REVOKED');
    const refresh = await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } });
    expect(refresh.status).toBe(401);

    // Logout without a body works too.
    const other = await s.login('admin', s.admin.password);
    expect((await s.request('POST', '/api/v1/auth/logout', { token: other.access_token })).status).toBe(204);
    expect((await me(other.access_token)).status).toBe(401);
  });

  it('refuses an expired token', async () => {
    const token = await claimsBuilder()
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(jwtKey);
    const res = await me(token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('TOKEN_EXPIRED');
  });

  it('accepts a token it signed itself (the forging helper is right), and refuses a forged signature', async () => {
    const good = await claimsBuilder().setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(jwtKey);
    expect((await me(good)).status).toBe(200);

    const otherKey = new TextEncoder().encode('x'.repeat(64));
    const forged = await claimsBuilder().setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(otherKey);
    const res = await me(forged);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('TOKEN_INVALID');

    // A real token with its payload swapped for another user's keeps a signature that no longer matches.
    const [h, , sig] = s.admin.token.split('.');
    const swapped = `${h}.${b64url({ sub: 'someone-else', sid: adminSession, iss: 'clarion', aud: 'clarion-api', exp: 9_999_999_999 })}.${sig}`;
    expect((await me(swapped)).status).toBe(401);
    expect((await me('not.a.jwt')).status).toBe(401);
  });

  it('refuses alg: none', async () => {
    const payload = { sub: adminId, sid: adminSession, iss: 'clarion', aud: 'clarion-api', exp: 9_999_999_999 };
    for (const alg of ['none', 'None', 'NONE']) {
      const token = `${b64url({ alg, typ: 'JWT' })}.${b64url(payload)}.`;
      const res = await me(token);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('TOKEN_INVALID');
    }
  });

  it('refuses another algorithm: HS512 with the same secret and RS256', async () => {
    const hs512 = await claimsBuilder().setProtectedHeader({ alg: 'HS512' }).setExpirationTime('5m').sign(jwtKey);
    expect((await me(hs512)).status).toBe(401);

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs256 = await claimsBuilder().setProtectedHeader({ alg: 'RS256' }).setExpirationTime('5m').sign(privateKey);
    const res = await me(rs256);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('TOKEN_INVALID');
  });

  it('refuses a token whose session does not exist or whose subject does not match it', async () => {
    const ghost = await new SignJWT({ sid: 'no-such-session' })
      .setSubject(adminId)
      .setIssuer('clarion')
      .setAudience('clarion-api')
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(jwtKey);
    expect((await me(ghost)).status).toBe(401);
    const wrongAudience = await new SignJWT({ sid: adminSession })
      .setSubject(adminId)
      .setIssuer('clarion')
      .setAudience('someone-else')
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(jwtKey);
    expect((await me(wrongAudience)).status).toBe(401);
  });

  it('API keys: shown once, listed by prefix only, usable as Bearer, revocable', async () => {
    const created = await s.request('POST', '/api/v1/api-keys', { token: s.admin.token, body: { name: 'ci' } });
    expect(created.status).toBe(201);
    const key: string = created.body.key;
    expect(key).toMatch(/^clk_/);
    expect(created.body.api_key.prefix).toBe(key.split('_').slice(0, 2).join('_'));
    expect(key.startsWith(created.body.api_key.prefix)).toBe(true);

    const list = await s.request('GET', '/api/v1/api-keys', { token: s.admin.token });
    expect(list.status).toBe(200);
    const listed = list.body.items.find((k: { id: string }) => k.id === created.body.api_key.id);
    expect(listed.prefix).toBe(created.body.api_key.prefix);
    expect(list.text).not.toContain(key);
    expect(listed).not.toHaveProperty('key');
    expect(listed).not.toHaveProperty('token_hash');

    const used = await me(key);
    expect(used.status).toBe(200);
    expect(used.body.via).toBe('api_key');
    expect(used.body.user.username).toBe('admin');

    // A key with the right prefix but a wrong secret is refused.
    const tampered = key.slice(0, -4) + (key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await me(tampered)).status).toBe(401);
    expect((await me('clk_nonsense')).body.error.code).toBe('API_KEY_INVALID');

    const revoked = await s.request('DELETE', `/api/v1/api-keys/${created.body.api_key.id}`, { token: s.admin.token });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    const after = await me(key);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('API_KEY_INVALID');
  });

  it('/auth/me from a cached credential answers the same JSON, and the new user once a change drops the cache', async () => {
    const u = await s.createUser('operator');
    const key = (await s.request('POST', '/api/v1/api-keys', { token: u.token, body: { name: 'me' } })).body.key;
    const first = await me(key);
    const second = await me(key);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(second.text).toBe(first.text);
    expect(first.body).toMatchObject({ via: 'api_key', user: { id: u.id, email: `${u.username}@example.test` } });
    expect(first.body.user).not.toHaveProperty('password_hash');
    const patched = await s.request('PATCH', `/api/v1/users/${u.id}`, {
      token: s.admin.token,
      body: { email: `${u.username}@elsewhere.test` },
    });
    expect(patched.status).toBe(200);
    const after = await me(key);
    expect(after.status).toBe(200);
    expect(after.body.user.email).toBe(`${u.username}@elsewhere.test`);
  });

  it('an expired API key or session stops working', async () => {
    const db = s.app.database.db;
    const k = await s.request('POST', '/api/v1/api-keys', {
      token: s.admin.token,
      body: { name: 'short', expires_in_days: 1 },
    });
    expect(k.status).toBe(201);
    expect(Date.parse(k.body.api_key.expires_at)).toBeGreaterThan(Date.now() + 86_000_000);
    expect((await me(k.body.key)).status).toBe(200);
    await db
      .updateTable('api_tokens')
      .set({ expires_at: '2020-01-01T00:00:00.000Z' })
      .where('id', '=', k.body.api_key.id)
      .execute();
    await cacheExpiry();
    expect((await me(k.body.key)).body.error.code).toBe('API_KEY_INVALID');

    const pair = await s.login('admin', s.admin.password);
    const sid = JSON.parse(Buffer.from(pair.access_token.split('.')[1]!, 'base64url').toString()).sid as string;
    await db
      .updateTable('auth_sessions')
      .set({ expires_at: '2020-01-01T00:00:00.000Z' })
      .where('id', '=', sid)
      .execute();
    await cacheExpiry();
    expect((await me(pair.access_token)).body.error.code).toBe('SESSION_REVOKED');
    const refresh = await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } });
    expect(refresh.body.error.code).toBe('REFRESH_TOKEN_INVALID');
  });

  it("a key's scopes never exceed its creator's, and a scoped key cannot mint a wider one", async () => {
    const viewer = await s.createUser('viewer');
    const v = await s.request('POST', '/api/v1/api-keys', {
      token: viewer.token,
      body: { name: 'x', scopes: ['agent:create'] },
    });
    expect(v.status).toBe(403);

    const operator = await s.createUser('operator');
    const over = await s.request('POST', '/api/v1/api-keys', {
      token: operator.token,
      body: { name: 'x', scopes: ['agent:read', 'user:manage'] },
    });
    expect(over.status).toBe(403);
    expect(over.body.error.code).toBe('ROLE_ESCALATION');
    expect(over.body.error.details.scopes).toEqual(['user:manage']);

    const scoped = await s.request('POST', '/api/v1/api-keys', {
      token: operator.token,
      body: { name: 'narrow', scopes: ['apikey:manage', 'agent:read'] },
    });
    expect(scoped.status).toBe(201);
    const narrowKey: string = scoped.body.key;
    const narrowMe = await me(narrowKey);
    expect(narrowMe.body.permissions).toEqual(['agent:read', 'apikey:manage']);

    const wider = await s.request('POST', '/api/v1/api-keys', {
      token: narrowKey,
      body: { name: 'wider', scopes: ['agent:create'] },
    });
    expect(wider.status).toBe(403);
    expect(wider.body.error.code).toBe('ROLE_ESCALATION');

    // Without scopes, a key made by a scoped key inherits the narrow scopes, not the role's.
    const child = await s.request('POST', '/api/v1/api-keys', { token: narrowKey, body: { name: 'child' } });
    expect(child.status).toBe(201);
    expect((await me(child.body.key)).body.permissions).toEqual(['agent:read', 'apikey:manage']);

    // A scoped key cannot reach routes outside its scopes even though the user could.
    const users = await s.request('GET', '/api/v1/users', { token: narrowKey });
    expect(users.status).toBe(403);
    expect(users.body.error.code).toBe('FORBIDDEN');

    // Lowering the owner's role narrows existing keys immediately.
    const full = await s.request('POST', '/api/v1/api-keys', { token: operator.token, body: { name: 'full' } });
    expect((await me(full.body.key)).body.permissions).toContain('agent:create');
    const demote = await s.request('PATCH', `/api/v1/users/${operator.id}`, {
      token: s.admin.token,
      body: { role: 'viewer' },
    });
    expect(demote.status).toBe(200);
    const narrowed = await me(full.body.key);
    expect(narrowed.body.permissions).not.toContain('agent:create');
    expect(narrowed.body.permissions.every((p: string) => p.endsWith(':read'))).toBe(true);
  });

  it('a disabled user cannot sign in, and their tokens and keys stop working', async () => {
    const op = await s.createUser('operator');
    const key = (await s.request('POST', '/api/v1/api-keys', { token: op.token, body: { name: 'k' } })).body.key;
    const pair = await s.login(op.username, op.password);
    const off = await s.request('PATCH', `/api/v1/users/${op.id}`, { token: s.admin.token, body: { disabled: true } });
    expect(off.status).toBe(200);
    expect(off.body.disabled).toBe(true);

    expect((await me(op.token)).status).toBe(401);
    const login = await s.request('POST', '/api/v1/auth/login', {
      body: { username: op.username, password: op.password },
    });
    expect(login.status).toBe(403);
    expect(login.body.error.code).toBe('USER_DISABLED');
    const viaKey = await me(key);
    expect(viaKey.status).toBe(403);
    expect(viaKey.body.error.code).toBe('USER_DISABLED');
    const refresh = await s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } });
    expect(refresh.status).toBe(401);

    await s.request('PATCH', `/api/v1/users/${op.id}`, { token: s.admin.token, body: { disabled: false } });
    expect(
      (await s.request('POST', '/api/v1/auth/login', { body: { username: op.username, password: op.password } }))
        .status,
    ).toBe(200);
  });

  it('a generated password must be changed before anything but /auth/me and /auth/password', async () => {
    const username = `fresh${Date.now() % 100000}`;
    const created = await s.request('POST', '/api/v1/users', {
      token: s.admin.token,
      body: { username, email: `${username}@example.test`, role: 'operator' },
    });
    expect(created.status).toBe(201);
    const generated: string = created.body.password;
    expect(generated.length).toBeGreaterThanOrEqual(16);
    expect(created.body.user.must_change_password).toBe(true);

    const { access_token: token } = await s.login(username, generated);
    const otherSession = await s.login(username, generated);
    const who = await me(token);
    expect(who.status).toBe(200);
    expect(who.body.user.must_change_password).toBe(true);
    for (const [method, url] of [
      ['GET', '/api/v1/api-keys'],
      ['GET', '/api/v1/roles'],
      ['GET', '/api/v1/users'],
    ] as const) {
      const res = await s.request(method, url, { token });
      expect(res.status, url).toBe(403);
      expect(res.body.error.code).toBe('PASSWORD_CHANGE_REQUIRED');
    }

    const wrong = await s.request('POST', '/api/v1/auth/password', {
      token,
      body: { current_password: 'not-the-password', new_password: 'a-brand-new-password' },
    });
    expect(wrong.status).toBe(401);
    const same = await s.request('POST', '/api/v1/auth/password', {
      token,
      body: { current_password: generated, new_password: generated },
    });
    expect(same.status).toBe(400);
    const changed = await s.request('POST', '/api/v1/auth/password', {
      token,
      body: { current_password: generated, new_password: 'a-brand-new-password' },
    });
    expect(changed.status).toBe(204);
    expect((await s.request('GET', '/api/v1/api-keys', { token })).status).toBe(200);
    // The session that changed the password stays; every other one of the user's sessions ends.
    expect((await me(otherSession.access_token)).status).toBe(401);
    const otherRefresh = await s.request('POST', '/api/v1/auth/refresh', {
      body: { refresh_token: otherSession.refresh_token },
    });
    expect(otherRefresh.status).toBe(401);
    expect((await s.request('POST', '/api/v1/auth/login', { body: { username, password: generated } })).status).toBe(
      401,
    );
    await s.login(username, 'a-brand-new-password');

    // An admin reset sets the flag again and ends the user's sessions.
    const reset = await s.request('POST', `/api/v1/users/${created.body.user.id}/reset-password`, {
      token: s.admin.token,
      body: {},
    });
    expect(reset.status).toBe(200);
    expect((await me(token)).status).toBe(401);
    const again = await s.login(username, reset.body.password);
    expect((await s.request('GET', '/api/v1/api-keys', { token: again.access_token })).body.error.code).toBe(
      'PASSWORD_CHANGE_REQUIRED',
    );
  });
});

describe.each(testDialects())('refresh token grace window on %s', (dialect) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({
      dialect,
      config: { auth_attempts_per_minute: 10_000, refresh_token_reuse_grace: '2s' },
    });
  });
  afterAll(async () => s?.close());

  const refresh = (token: string) => s.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: token } });
  const me = (token: string) => s.request('GET', '/api/v1/auth/me', { token });

  it('a client that lost the answer may present the old token again; the lost successor stops working', async () => {
    const first = await s.login('admin', s.admin.password);
    const lost = await refresh(first.refresh_token);
    expect(lost.status).toBe(200);
    // The reload never saw `lost`, so it sends the first token again.
    const retry = await refresh(first.refresh_token);
    expect(retry.status).toBe(200);
    expect(retry.body.refresh_token).not.toBe(lost.body.refresh_token);
    expect((await me(retry.body.access_token)).status).toBe(200);
    // The session still has exactly one live refresh token: the retried one continues the chain.
    const next = await refresh(retry.body.refresh_token);
    expect(next.status).toBe(200);
    // Once the chain has moved on, the first token is a replay: the whole session is revoked.
    const replay = await refresh(first.refresh_token);
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('REFRESH_TOKEN_REUSED');
    expect((await me(next.body.access_token)).status).toBe(401);
    expect((await refresh(next.body.refresh_token)).status).toBe(401);
  });

  it('two tabs refreshing with one token at once both keep the session', async () => {
    const first = await s.login('admin', s.admin.password);
    const both = await Promise.all([refresh(first.refresh_token), refresh(first.refresh_token)]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    for (const r of both) expect((await me(r.body.access_token)).status).toBe(200);
  });

  it('after the grace window a used token is a replay again', async () => {
    const first = await s.login('admin', s.admin.password);
    const lost = await refresh(first.refresh_token);
    expect(lost.status).toBe(200);
    await new Promise((r) => setTimeout(r, 2_200));
    const late = await refresh(first.refresh_token);
    expect(late.status).toBe(401);
    expect(late.body.error.code).toBe('REFRESH_TOKEN_REUSED');
    expect((await refresh(lost.body.refresh_token)).status).toBe(401);
  });
});
