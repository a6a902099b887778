import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

let seq = 0;
const newUser = (role?: string) => {
  const username = `reg${++seq}x${Date.now() % 100000}`;
  return { username, email: `${username}@example.test`, password: 'a-long-password', ...(role ? { role } : {}) };
};

describe.each(testDialects())('roles and ownership on %s', (dialect) => {
  let s: TestServer;
  let open: TestServer;
  let viewer: Awaited<ReturnType<TestServer['createUser']>>;
  let operator: Awaited<ReturnType<TestServer['createUser']>>;

  beforeAll(async () => {
    [s, open] = await Promise.all([
      startTestServer({ dialect, config: { auth_attempts_per_minute: 10_000 } }),
      startTestServer({ dialect, config: { open_registration: true, auth_attempts_per_minute: 10_000 } }),
    ]);
    viewer = await s.createUser('viewer');
    operator = await s.createUser('operator');
  });
  afterAll(async () => Promise.all([s?.close(), open?.close()]));

  it('a viewer gets 403 on every create, change and delete', async () => {
    const attempts: [string, string, unknown][] = [
      ['POST', '/api/v1/users', newUser('viewer')],
      ['PATCH', `/api/v1/users/${operator.id}`, { disabled: true }],
      ['DELETE', `/api/v1/users/${operator.id}`, undefined],
      ['POST', `/api/v1/users/${operator.id}/reset-password`, {}],
      ['POST', '/api/v1/api-keys', { name: 'mine' }],
      ['GET', '/api/v1/api-keys', undefined],
    ];
    for (const [method, url, body] of attempts) {
      const res = await s.request(method, url, { token: viewer.token, body });
      expect(res.status, `${method} ${url}`).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
      expect(res.body.error.details.permission).toMatch(/^(user|apikey):manage$/);
    }
    // Reads are allowed and nothing above changed.
    const target = await s.request('GET', `/api/v1/users/${operator.id}`, { token: viewer.token });
    expect(target.status).toBe(200);
    expect(target.body.disabled).toBe(false);
  });

  it("user B gets 404 (never 403) on user A's API key, and A's key keeps working", async () => {
    const a = await s.request('POST', '/api/v1/api-keys', { token: s.admin.token, body: { name: 'a-key' } });
    expect(a.status).toBe(201);
    const del = await s.request('DELETE', `/api/v1/api-keys/${a.body.api_key.id}`, { token: operator.token });
    expect(del.status).toBe(404);
    expect(del.body.error.code).toBe('API_KEY_NOT_FOUND');
    const missing = await s.request('DELETE', '/api/v1/api-keys/does-not-exist', { token: operator.token });
    expect(missing.body).toEqual(del.body);
    const bList = await s.request('GET', '/api/v1/api-keys', { token: operator.token });
    expect(bList.body.items.map((k: { id: string }) => k.id)).not.toContain(a.body.api_key.id);
    expect((await s.request('GET', '/api/v1/auth/me', { token: a.body.key })).status).toBe(200);
  });

  it('registration is closed by default; only an admin registers users, up to their own role', async () => {
    const anon = await s.request('POST', '/api/v1/auth/register', { body: newUser('admin') });
    expect(anon.status).toBe(403);
    expect(anon.body.error.code).toBe('REGISTRATION_CLOSED');
    const anonViewer = await s.request('POST', '/api/v1/auth/register', { body: newUser() });
    expect(anonViewer.body.error.code).toBe('REGISTRATION_CLOSED');
    // A signed-in operator lacks user:manage, so for them registration is closed too.
    const byOperator = await s.request('POST', '/api/v1/auth/register', {
      token: operator.token,
      body: newUser('admin'),
    });
    expect(byOperator.status).toBe(403);

    const body = newUser('operator');
    const byAdmin = await s.request('POST', '/api/v1/auth/register', { token: s.admin.token, body });
    expect(byAdmin.status).toBe(201);
    expect(byAdmin.body.role).toBe('operator');
    await s.login(body.username, body.password);
  });

  it('open registration creates viewers only; asking for admin or operator is refused', async () => {
    for (const role of ['admin', 'operator']) {
      const body = newUser(role);
      const res = await open.request('POST', '/api/v1/auth/register', { body });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('ROLE_ESCALATION');
      expect(res.body.error.details.field).toBe('role');
      // Nothing was half-written: the name is still free.
      expect((await open.request('POST', '/api/v1/auth/register', { body: { ...body, role: 'viewer' } })).status).toBe(
        201,
      );
    }
    const plain = await open.request('POST', '/api/v1/auth/register', { body: newUser() });
    expect(plain.status).toBe(201);
    expect(plain.body.role).toBe('viewer');
    expect(plain.body).not.toHaveProperty('password_hash');
    const dup = await open.request('POST', '/api/v1/auth/register', {
      body: { ...newUser(), username: plain.body.username },
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('USER_EXISTS');
  });

  it('the same name registered three times at once: one 201, two 409 (never a 500)', async () => {
    const body = newUser('viewer');
    const results = await Promise.all(
      [1, 2, 3].map((i) =>
        s.request('POST', '/api/v1/users', {
          token: s.admin.token,
          body: { ...body, email: `dup${i}-${body.email}` },
        }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.error.code).toBe('USER_EXISTS');
  });

  it('nobody changes their own role, and an operator cannot grant admin', async () => {
    const self = await s.request('PATCH', `/api/v1/users/${operator.id}`, {
      token: operator.token,
      body: { role: 'admin' },
    });
    expect(self.status).toBe(403);
    const grant = await s.request('PATCH', `/api/v1/users/${viewer.id}`, {
      token: operator.token,
      body: { role: 'admin' },
    });
    expect(grant.status).toBe(403);
    const create = await s.request('POST', '/api/v1/users', { token: operator.token, body: newUser('admin') });
    expect(create.status).toBe(403);
    const adminId = (await s.request('GET', '/api/v1/auth/me', { token: s.admin.token })).body.user.id;
    const adminSelf = await s.request('PATCH', `/api/v1/users/${adminId}`, {
      token: s.admin.token,
      body: { role: 'viewer' },
    });
    expect(adminSelf.status).toBe(403);
    expect(adminSelf.body.error.code).toBe('ROLE_ESCALATION');
    const roles = await s.request('GET', `/api/v1/users/${viewer.id}`, { token: s.admin.token });
    expect(roles.body.role).toBe('viewer');
    expect((await s.request('GET', '/api/v1/auth/me', { token: operator.token })).body.user.role).toBe('operator');
  });

  it('a role change ends the sessions of the user it changes', async () => {
    const u = await s.createUser('viewer');
    const up = await s.request('PATCH', `/api/v1/users/${u.id}`, { token: s.admin.token, body: { role: 'operator' } });
    expect(up.status).toBe(200);
    expect(up.body.role).toBe('operator');
    expect((await s.request('GET', '/api/v1/auth/me', { token: u.token })).status).toBe(401);
    const again = await s.login(u.username, u.password);
    const who = await s.request('GET', '/api/v1/auth/me', { token: again.access_token });
    expect(who.body.permissions).toContain('agent:create');
  });

  it('the last active admin cannot be disabled, deleted or demoted (409 LAST_ADMIN)', async () => {
    const adminId = (await s.request('GET', '/api/v1/auth/me', { token: s.admin.token })).body.user.id;
    const disable = await s.request('PATCH', `/api/v1/users/${adminId}`, {
      token: s.admin.token,
      body: { disabled: true },
    });
    expect(disable.status).toBe(409);
    expect(disable.body.error.code).toBe('LAST_ADMIN');
    const del = await s.request('DELETE', `/api/v1/users/${adminId}`, { token: s.admin.token });
    expect(del.status).toBe(409);
    expect(del.body.error.code).toBe('LAST_ADMIN');

    // With a second admin, one may demote the other; then the survivor is the last one.
    const second = await s.createUser('admin');
    const demote = await s.request('PATCH', `/api/v1/users/${adminId}`, {
      token: second.token,
      body: { role: 'operator' },
    });
    expect(demote.status).toBe(200);
    const secondDisable = await s.request('PATCH', `/api/v1/users/${second.id}`, {
      token: second.token,
      body: { disabled: true },
    });
    expect(secondDisable.body.error.code).toBe('LAST_ADMIN');
    const restore = await s.request('PATCH', `/api/v1/users/${adminId}`, {
      token: second.token,
      body: { role: 'admin' },
    });
    expect(restore.status).toBe(200);
    s.admin.token = (await s.login(s.admin.username, s.admin.password)).access_token;
  });

  it('two admins disabling each other at the same moment leave one admin standing', async () => {
    const a = await s.createUser('admin');
    const b = await s.createUser('admin');
    // Leave only a and b as active admins.
    const adminId = (await s.request('GET', '/api/v1/auth/me', { token: s.admin.token })).body.user.id;
    const others = (await s.request('GET', '/api/v1/users?role=admin&limit=100', { token: a.token })).body.items as {
      id: string;
    }[];
    for (const u of others) {
      if (u.id !== a.id && u.id !== b.id) {
        const r = await s.request('PATCH', `/api/v1/users/${u.id}`, { token: a.token, body: { disabled: true } });
        expect(r.status).toBe(200);
      }
    }
    // Straight at the service, so both changes are in flight together (over HTTP the loser usually fails
    // authentication first, because the winner ends its sessions).
    const { auth, users } = s.app.services;
    const [pa, pb] = await Promise.all([auth.authenticate(a.token), auth.authenticate(b.token)]);
    const results = await Promise.allSettled([
      users.update(pa, b.id, { disabled: true }),
      users.update(pb, a.id, { disabled: true }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason.code).toBe('LAST_ADMIN');
    const survivor = results[0].status === 'fulfilled' ? a : b;
    const admins = (
      await s.request('GET', '/api/v1/users?role=admin&limit=100', { token: survivor.token })
    ).body.items.filter((u: { disabled: boolean }) => !u.disabled);
    expect(admins).toHaveLength(1);
    // Put the original admin back for any later test.
    await s.request('PATCH', `/api/v1/users/${adminId}`, { token: survivor.token, body: { disabled: false } });
    s.admin.token = (await s.login(s.admin.username, s.admin.password)).access_token;
  });
});
