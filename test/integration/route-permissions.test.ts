import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { permissions } from '../../src/auth/permissions.js';
import { registeredRoutes, registerRouteAccess } from '../../src/http/auth-hook.js';
import { accessFor, allowedBeforePasswordChange, routePermissions } from '../../src/http/route-permissions.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * API routes anyone may call without credentials. A new one must be added here on purpose, so an
 * accidental `public` in the table fails review and this test.
 */
const PUBLIC_API = new Set([
  'GET /api/v1/openapi.json',
  'POST /api/v1/auth/register',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/refresh',
]);

// Route registration does not depend on the database, so SQLite is enough here.
describe('route permission table', () => {
  let s: TestServer;
  let routes: readonly { method: string; url: string; access: string }[];

  beforeAll(async () => {
    // Every optional plugin on (CORS registers its preflight route only when origins are allowed).
    s = await startTestServer({ config: { cors_origins: ['https://app.example'] } });
    routes = registeredRoutes(s.app.server);
  });
  afterAll(async () => s?.close());

  it('sees every route the app registers (plugins included)', () => {
    const keys = routes.map((r) => `${r.method} ${r.url}`);
    for (const k of ['GET /health', 'OPTIONS *', 'GET /docs', 'POST /api/v1/auth/login', 'DELETE /api/v1/users/:id']) {
      expect(keys).toContain(k);
    }
  });

  it('compiles every request and response schema of every route (compiled lazily at first use when serving)', () => {
    const compiled = s.app.server.compileAllSchemas();
    expect(compiled).toBeGreaterThan(routes.length);
    expect(s.app.server.compileAllSchemas()).toBe(0);
  });

  it('gives every registered route an entry in src/http/route-permissions.ts', () => {
    const missing = routes.filter((r) => accessFor(r.method, r.url) === undefined).map((r) => `${r.method} ${r.url}`);
    expect(missing, 'routes without an entry in src/http/route-permissions.ts').toEqual([]);
    for (const r of routes) {
      const access = accessFor(r.method, r.url)!;
      expect(['public', 'authenticated', ...Object.keys(permissions)], `${r.method} ${r.url}`).toContain(access);
    }
  });

  it('has no stale entries that match no route', () => {
    const stale = Object.keys(routePermissions).filter((key) => {
      const [method, url] = key.split(' ') as [string, string];
      if (key.endsWith('/**')) {
        const prefix = url.slice(0, -3);
        return !routes.some((r) => r.method === method && (r.url === prefix || r.url.startsWith(`${prefix}/`)));
      }
      return !routes.some((r) => r.method === method && r.url === url);
    });
    expect(stale, 'entries in src/http/route-permissions.ts that match no registered route').toEqual([]);
    const staleAllowed = [...allowedBeforePasswordChange].filter(
      (key) => !routes.some((r) => `${r.method} ${r.url}` === key),
    );
    expect(staleAllowed).toEqual([]);
  });

  it('keeps /api/v1 closed: only the listed API routes are public', () => {
    const open = routes
      .filter((r) => r.url.startsWith('/api/') && r.method !== 'HEAD' && r.access === 'public')
      .map((r) => `${r.method} ${r.url}`);
    expect(
      open.filter((k) => !PUBLIC_API.has(k)),
      'public API routes not in PUBLIC_API',
    ).toEqual([]);
  });

  it('refuses to register a route that has no entry', async () => {
    const app = Fastify();
    registerRouteAccess(app);
    app.get('/health', async () => 'ok');
    expect(() => app.get('/api/v1/not-in-the-table', async () => 'x')).toThrow(
      /no entry in src\/http\/route-permissions/,
    );
    await app.close();
  });

  it('every protected GET route answers 401 without credentials and 403 to a viewer lacking its permission', async () => {
    const viewer = await s.createUser('viewer');
    for (const r of routes) {
      if (r.method !== 'GET' || r.url.includes(':') || r.url.includes('*') || r.access === 'public') continue;
      const anon = await s.request('GET', r.url);
      expect(anon.status, `anonymous GET ${r.url}`).toBe(401);
      if (r.access !== 'authenticated' && !permissions[r.access as keyof typeof permissions]) continue;
      const res = await s.request('GET', r.url, { token: viewer.token });
      const viewerHas = r.access === 'authenticated' || r.access.endsWith(':read');
      if (!viewerHas) expect(res.status, `viewer GET ${r.url}`).toBe(403);
    }
  });
});
