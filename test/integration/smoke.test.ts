import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe.each(testDialects())('smoke on %s', (dialect) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ dialect });
  });
  afterAll(async () => s?.close());

  it('serves health, readiness and the signed-in user', async () => {
    expect((await s.request('GET', '/health')).body).toEqual({ status: 'ok' });
    const ready = await s.request('GET', '/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.migrations.ok).toBe(true);
    const me = await s.request('GET', '/api/v1/auth/me', { token: s.admin.token });
    expect(me.status).toBe(200);
    expect(me.body.user.username).toBe('admin');
    expect(me.body.user).not.toHaveProperty('password_hash');
  });
});
