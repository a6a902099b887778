import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const ALLOWED_ORIGIN = 'https://app.example.test';

describe.each(testDialects())('HTTP behaviour on %s', (dialect) => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer({
      dialect,
      config: { body_limit: '4kb', max_page_size: 2, cors_origins: [ALLOWED_ORIGIN], auth_attempts_per_minute: 1000 },
    });
  });
  afterAll(async () => s?.close());

  it('refuses a body over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
    const big = { username: 'admin', password: 'x'.repeat(8 * 1024) };
    const anon = await s.request('POST', '/api/v1/auth/login', { body: big });
    expect(anon.status).toBe(413);
    expect(anon.body).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: expect.any(String) } });
    const signedIn = await s.request('POST', '/api/v1/api-keys', {
      token: s.admin.token,
      body: { name: 'y'.repeat(6000) },
    });
    expect(signedIn.status).toBe(413);
    // Just under the limit is parsed (and then validated).
    const small = await s.request('POST', '/api/v1/api-keys', {
      token: s.admin.token,
      body: { name: 'y'.repeat(200) },
    });
    expect(small.status).toBe(400);
    expect(small.body.error.details.field).toBe('body/name');
  });

  it('answers schema errors with 400 and the field path', async () => {
    const cases: [unknown, string][] = [
      [{ email: 'a@example.test', role: 'viewer' }, 'body/username'],
      [{ username: 'someone', email: 'a@example.test', role: 5 }, 'body/role'],
      [{ username: 'someone', email: 'a@example.test', role: 'superuser' }, 'body/role'],
      [{ username: 'someone', email: 'a@example.test', role: 'viewer', extra: 1 }, 'body/extra'],
      [{ username: 'someone', email: 'not-an-email', role: 'viewer' }, 'body/email'],
    ];
    for (const [body, field] of cases) {
      const res = await s.request('POST', '/api/v1/users', { token: s.admin.token, body });
      expect(res.status, field).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details.field).toBe(field);
      expect(res.body.error.message).toContain(field);
    }
    const nested = await s.request('POST', '/api/v1/api-keys', {
      token: s.admin.token,
      body: { name: 'k', scopes: ['agent:read', 'no:such'] },
    });
    expect(nested.status).toBe(400);
    expect(nested.body.error.details.field).toBe('body/scopes/1');
    const query = await s.request('GET', '/api/v1/users?limit=abc', { token: s.admin.token });
    expect(query.status).toBe(400);
    expect(query.body.error.details.field).toBe('querystring/limit');
    const unknownQuery = await s.request('GET', '/api/v1/users?sort=name', { token: s.admin.token });
    expect(unknownQuery.status).toBe(400);
    expect(unknownQuery.body.error.details.field).toBe('querystring/sort');
    // Nothing was created by any of the refused requests.
    const list = await s.request('GET', '/api/v1/users?q=someone', { token: s.admin.token });
    expect(list.body.items).toEqual([]);
  });

  it('answers invalid JSON with 400 INVALID_JSON and a wrong content type with 415', async () => {
    const bad = await s.request('POST', '/api/v1/auth/login', {
      raw: '{"username": "admin", ',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_JSON');
    const proto = await s.request('POST', '/api/v1/auth/login', {
      raw: '{"username":"admin","password":"x","__proto__":{"admin":true}}',
      headers: { 'content-type': 'application/json' },
    });
    expect(proto.status).toBe(400);
    const xml = await s.request('POST', '/api/v1/auth/login', {
      raw: '<login><username>admin</username></login>',
      headers: { 'content-type': 'application/xml' },
    });
    expect(xml.status).toBe(415);
    expect(xml.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    // Plain text is parsed as a string, which the object schema then refuses.
    const plain = await s.request('POST', '/api/v1/auth/login', {
      raw: 'username=admin',
      headers: { 'content-type': 'text/plain' },
    });
    expect(plain.status).toBe(400);
    expect(plain.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('refuses NUL characters in bodies and URLs with 400 instead of failing in the database', async () => {
    const body = await s.request('POST', '/api/v1/api-keys', { token: s.admin.token, body: { name: 'a\u0000b' } });
    expect(body.status).toBe(400);
    expect(body.body.error.details.field).toBe('body/name');
    const login = await s.request('POST', '/api/v1/auth/login', { body: { username: 'ad\u0000min', password: 'x' } });
    expect(login.status).toBe(400);
    expect(login.body.error.details.field).toBe('body/username');
    const nested = await s.request('POST', '/api/v1/api-keys', {
      token: s.admin.token,
      body: { name: 'k', scopes: ['agent:read\u0000'] },
    });
    expect(nested.body.error.details.field).toBe('body/scopes/0');
    for (const url of ['/api/v1/users/%00', '/api/v1/users?q=%00', '/api/v1/users?q=a%00b']) {
      const res = await s.request('GET', url, { token: s.admin.token });
      expect(res.status, url).toBe(400);
      expect(res.body.error.details.field).toBe('url');
      // Refused answers carry the request id and security headers like any other.
      expect(res.headers.get('x-request-id'), url).toBeTruthy();
      expect(res.headers.get('x-content-type-options'), url).toBe('nosniff');
    }
    // A literal backslash-u text is not a NUL and passes.
    const literal = await s.request('POST', '/api/v1/api-keys', { token: s.admin.token, body: { name: 'a\\u0000b' } });
    expect(literal.status).toBe(201);
    expect(literal.body.api_key.name).toBe('a\\u0000b');
  });

  it("changes a user's email, refusing one another user has", async () => {
    const u = await s.createUser('viewer');
    const ok = await s.request('PATCH', `/api/v1/users/${u.id}`, {
      token: s.admin.token,
      body: { email: 'New@Example.test' },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.email).toBe('new@example.test');
    const taken = await s.request('PATCH', `/api/v1/users/${u.id}`, {
      token: s.admin.token,
      body: { email: 'admin@localhost' },
    });
    expect(taken.status).toBe(409);
    expect(taken.body.error.details.field).toBe('email');
  });

  it('answers an unknown route with 404 ROUTE_NOT_FOUND in the one error shape', async () => {
    const res = await s.request('GET', '/api/v1/no-such-thing?x=1');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'ROUTE_NOT_FOUND', message: 'No route GET /api/v1/no-such-thing.' } });
    const withToken = await s.request('DELETE', '/api/v1/users', { token: s.admin.token });
    expect(withToken.status).toBe(404);
    expect(withToken.headers.get('content-type')).toContain('application/json');
  });

  it('serves /health, /ready and Prometheus /metrics with route labels and process metrics', async () => {
    const health = await s.request('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    const ready = await s.request('GET', '/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
    expect(ready.body.checks.database.ok).toBe(true);
    expect(ready.body.checks.migrations.ok).toBe(true);

    await s.request('GET', '/api/v1/auth/me', { token: s.admin.token });
    await s.request('GET', '/not-a-route-xyz');
    // Metrics describe the installation: anonymous callers and roles without system:read are refused.
    expect((await s.request('GET', '/metrics')).status).toBe(401);
    const key = await s.request('POST', '/api/v1/api-keys', {
      token: s.admin.token,
      body: { name: 'prometheus', scopes: ['system:read'] },
    });
    expect(key.status).toBe(201);
    const noScope = await s.request('POST', '/api/v1/api-keys', {
      token: s.admin.token,
      body: { name: 'runs only', scopes: ['run:read'] },
    });
    expect((await s.request('GET', '/metrics', { token: noScope.body.key })).status).toBe(403);
    const metrics = await s.request('GET', '/metrics', { token: key.body.key });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(metrics.text).toMatch(
      /clarion_http_request_duration_seconds_bucket\{[^}]*route="\/api\/v1\/auth\/me"[^}]*status_code="200"/,
    );
    expect(metrics.text).toMatch(/clarion_http_request_duration_seconds_count\{[^}]*route="unmatched"/);
    // Unmatched URLs do not become label values (unbounded cardinality).
    expect(metrics.text).not.toContain('not-a-route-xyz');
    expect(metrics.text).toContain('clarion_process_cpu_user_seconds_total');
    expect(metrics.text).toContain('clarion_process_resident_memory_bytes');
    expect(metrics.text).toContain('clarion_nodejs_heap_size_used_bytes');
  });

  it('publishes OpenAPI 3.1 with the auth routes and a docs UI', async () => {
    const spec = await s.request('GET', '/api/v1/openapi.json');
    expect(spec.status).toBe(200);
    expect(spec.body.openapi).toBe('3.1.0');
    for (const p of ['/api/v1/auth/login', '/api/v1/auth/refresh', '/api/v1/auth/me', '/api/v1/api-keys']) {
      expect(Object.keys(spec.body.paths)).toContain(p);
    }
    expect(spec.body.paths['/api/v1/auth/login'].post).toBeDefined();
    expect(spec.body.components.securitySchemes.bearer.scheme).toBe('bearer');
    const docs = await fetch(`${s.url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toContain('text/html');
    expect(await docs.text()).toContain('swagger');
  });

  it('echoes only allowed CORS origins, never an arbitrary one', async () => {
    const allowed = await s.request('GET', '/health', { headers: { origin: ALLOWED_ORIGIN } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    expect(allowed.headers.get('vary')?.toLowerCase()).toContain('origin');

    const evil = await s.request('GET', '/api/v1/auth/me', {
      token: s.admin.token,
      headers: { origin: 'https://evil.example' },
    });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const nullOrigin = await s.request('GET', '/health', { headers: { origin: 'null' } });
    expect(nullOrigin.headers.get('access-control-allow-origin')).toBeNull();

    const preflight = await fetch(`${s.url}/api/v1/auth/me`, {
      method: 'OPTIONS',
      headers: {
        origin: ALLOWED_ORIGIN,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    const evilPreflight = await fetch(`${s.url}/api/v1/auth/me`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(evilPreflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('with no allowed origins (the default), answers no origin at all; metrics_public opens /metrics', async () => {
    const closed = await startTestServer({ dialect, config: { metrics_public: true } });
    try {
      const get = await closed.request('GET', '/health', { headers: { origin: 'https://app.example' } });
      expect(get.status).toBe(200);
      expect(get.headers.get('access-control-allow-origin')).toBeNull();
      const preflight = await fetch(`${closed.url}/api/v1/auth/me`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
      });
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      expect(preflight.headers.get('access-control-allow-methods')).toBeNull();
      expect((await closed.request('GET', '/metrics')).status).toBe(200);
    } finally {
      await closed.close();
    }
  });

  it('sets security headers and request ids', async () => {
    const res = await s.request('GET', '/api/v1/auth/me', { token: s.admin.token });
    // An API answer: OWASP's REST set; nothing may load or frame it.
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    // Plain HTTP: no Strict-Transport-Security (RFC 6797 §7.2), and a client cannot claim HTTPS unless
    // trust_proxy is on (tested below).
    expect(res.headers.get('strict-transport-security')).toBeNull();
    const claimed = await s.request('GET', '/health', { headers: { 'x-forwarded-proto': 'https' } });
    expect(claimed.headers.get('strict-transport-security')).toBeNull();
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    expect(res.headers.get('x-powered-by')).toBeNull();
    // A page (the API docs; @fastify/swagger-ui sets its own CSP): helmet's other headers for documents.
    const page = await fetch(`${s.url}/docs/`);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const given = await s.request('GET', '/health', { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(given.headers.get('x-request-id')).toBe('trace-abc.123');
    // A hostile id (log injection) is replaced by a generated one.
    const hostile = await s.request('GET', '/health', { headers: { 'x-request-id': 'a b"\\c' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(s.logs.some((l) => l.includes('"reqId":"trace-abc.123"'))).toBe(true);
    // Error responses carry it too.
    const err = await s.request('GET', '/nope', { headers: { 'x-request-id': 'err-id-1' } });
    expect(err.headers.get('x-request-id')).toBe('err-id-1');
  });

  it('sends Strict-Transport-Security on answers that went over HTTPS through a trusted proxy', async () => {
    const proxied = await startTestServer({ dialect, config: { trust_proxy: true } });
    try {
      for (const path of ['/health', '/docs/']) {
        const tls = await fetch(`${proxied.url}${path}`, { headers: { 'x-forwarded-proto': 'https' } });
        expect(tls.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
        const plain = await fetch(`${proxied.url}${path}`);
        expect(plain.headers.get('strict-transport-security')).toBeNull();
        expect(plain.headers.get('x-content-type-options')).toBe('nosniff');
      }
    } finally {
      await proxied.close();
    }
  });

  it('caps page size at max_page_size and pages with a cursor', async () => {
    await s.createUser('viewer');
    await s.createUser('viewer');
    const seen: string[] = [];
    let url = '/api/v1/users?limit=50';
    for (let i = 0; i < 10; i++) {
      const page = await s.request('GET', url, { token: s.admin.token });
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((u: { id: string }) => u.id));
      if (!page.body.next_cursor) break;
      url = `/api/v1/users?limit=50&cursor=${encodeURIComponent(page.body.next_cursor)}`;
    }
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(new Set(seen).size).toBe(seen.length);
    const all = seen.length;
    // Without a limit the default is also capped.
    expect((await s.request('GET', '/api/v1/users', { token: s.admin.token })).body.items).toHaveLength(2);
    expect(all).toBe(await s.app.services.users.count());

    for (const bad of ['0', '-1', '10001', '1.5']) {
      const res = await s.request('GET', `/api/v1/users?limit=${bad}`, { token: s.admin.token });
      expect(res.status, bad).toBe(400);
      expect(res.body.error.details.field).toBe('querystring/limit');
    }
    const cursor = await s.request('GET', '/api/v1/users?cursor=garbage', { token: s.admin.token });
    expect(cursor.status).toBe(400);
    expect(cursor.body.error.details.field).toBe('cursor');
  });
});

describe.each(testDialects())('rate limits on %s', (dialect) => {
  let s: TestServer;

  beforeAll(async () => {
    // The test server's own admin sign-in succeeds, so it does not count against the attempt limit.
    s = await startTestServer({
      dialect,
      config: { rate_limit_ip_per_minute: 6, rate_limit_user_per_minute: 5, auth_attempts_per_minute: 4 },
    });
  });
  afterAll(async () => s?.close());

  const expect429 = (res: { status: number; headers: Headers; body: any }) => {
    expect(res.status).toBe(429);
    expect(res.body.error.code).toBe('RATE_LIMITED');
    const retry = Number(res.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
  };

  it('limits a signed-in user per minute', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await s.request('GET', '/api/v1/auth/me', { token: s.admin.token });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBe('5');
      expect(res.headers.get('x-ratelimit-remaining')).toBe(String(4 - i));
      const reset = Number(res.headers.get('x-ratelimit-reset'));
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(60);
    }
    const over = await s.request('GET', '/api/v1/auth/me', { token: s.admin.token });
    expect429(over);
    expect(over.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(over.body.error.details).toMatchObject({ limit: 5 });
    // The limit is the user's, not the credential's: another session of the same user is over it too.
    const again = await s.request('POST', '/api/v1/auth/login', {
      body: { username: 'admin', password: s.admin.password },
    });
    expect(again.status).toBe(200);
    expect429(await s.request('GET', '/api/v1/auth/me', { token: again.body.access_token }));
    // Probes are never limited.
    expect((await s.request('GET', '/health')).status).toBe(200);
  });

  it('limits bad credentials and sign-in attempts per address', async () => {
    const bogus = 'clk_AAAAAAAAAAAA_' + 'A'.repeat(43);
    for (let i = 0; i < 4; i++) {
      const res = await s.request('GET', '/api/v1/auth/me', { token: bogus });
      expect(res.status).toBe(401);
    }
    const limited = await s.request('GET', '/api/v1/auth/me', { token: bogus });
    expect429(limited);
    // Login is limited by the same counter, even with the right password.
    expect429(
      await s.request('POST', '/api/v1/auth/login', { body: { username: 'admin', password: s.admin.password } }),
    );
  });

  it('limits anonymous requests per address', async () => {
    // (After the test above, this address is also out of sign-in attempts; that limit is separate.)
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 8; i++) {
      last = await s.request('GET', '/api/v1/openapi.json');
      statuses.push(last.status);
      if (last.status === 429) break;
    }
    expect(statuses[0]).toBe(200);
    expect(statuses.at(-1)).toBe(429);
    expect429(last!);
  });
});

describe('sign-in attempts', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ config: { auth_attempts_per_minute: 3 } });
  });
  afterAll(async () => s?.close());
  const login = (password: string) =>
    s.request('POST', '/api/v1/auth/login', { body: { username: 'admin', password } });

  it('counts failures only, but counts them before the password check, so a concurrent burst is limited', async () => {
    // A team behind one address signing in many times is not locked out.
    for (let i = 0; i < 6; i++) expect((await login(s.admin.password)).status).toBe(200);
    // Guessing is: three wrong passwords at once use up the allowance...
    const burst = await Promise.all(Array.from({ length: 8 }, () => login('wrong password')));
    const statuses = burst.map((r) => r.status);
    expect(statuses.filter((x) => x === 401).length).toBeLessThanOrEqual(3);
    expect(statuses.filter((x) => x === 429).length).toBeGreaterThanOrEqual(5);
    // ...and then even the right password waits.
    const after = await login(s.admin.password);
    expect(after.status).toBe(429);
    expect(Number(after.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
