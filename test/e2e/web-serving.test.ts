import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { BUILD_TIMEOUT_MS, ensureWebBuilt } from './browser.js';

/** How the server delivers the app (no browser needed). */
describe('web UI serving', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: { web_dir: await ensureWebBuilt() } });
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => server?.close());

  it('serves index.html at / and for deep links, never cached, under a strict CSP', async () => {
    for (const p of ['/', '/login', '/runs/abc', '/settings/api-keys']) {
      const res = await fetch(server.url + p);
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      const html = await res.text();
      expect(html).toContain('<div id="root">');
      // No inline script: everything the page runs comes from /assets under 'self'.
      expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    }
  });

  it('serves hashed assets with a year-long immutable cache, compressed when asked', async () => {
    const html = await (await fetch(server.url + '/')).text();
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const plain = await fetch(server.url + js, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toContain('javascript');
    expect(plain.headers.get('cache-control')).toContain('max-age=31536000');
    expect(plain.headers.get('cache-control')).toContain('immutable');
    const body = await plain.arrayBuffer();
    const gz = await fetch(server.url + js, {
      headers: { 'accept-encoding': 'gzip' },
      decompress: false,
    } as RequestInit);
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect(Number(gz.headers.get('content-length'))).toBeLessThan(body.byteLength);
  });

  it('keeps JSON 404s for unknown server paths and missing files', async () => {
    for (const p of [
      '/api/v1/no-such-thing',
      '/v1/nothing',
      '/assets/missing-abc123.js',
      '/favicon.ico',
      '/ws-nope/../api/x',
    ]) {
      const res = await server.request('GET', p);
      expect(res.status, p).toBe(404);
      expect(res.body.error.code, p).toBe('ROUTE_NOT_FOUND');
    }
    const traversal = await fetch(server.url + '/assets/..%2F..%2Fpackage.json');
    expect(traversal.status).toBe(404);
    const post = await server.request('POST', '/settings');
    expect(post.status).toBe(404);
    expect(post.body.error.code).toBe('ROUTE_NOT_FOUND');
  });

  it('still answers the API next to the app', async () => {
    const res = await server.request('GET', '/api/v1/auth/me', { token: server.admin.token });
    expect(res.status).toBe(200);
    expect((await server.request('GET', '/api/v1/auth/me')).status).toBe(401);
  });
});

describe('web UI serving without a build', () => {
  it('keeps its routes and says how to build the UI; server paths keep their 404', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-no-ui-'));
    const server = await startTestServer({ config: { web_dir: empty } });
    try {
      const page = await server.request('GET', '/runs/abc');
      expect(page.status).toBe(404);
      expect(page.body.error.message).toMatch(/npm run build/);
      const api = await server.request('GET', '/api/v1/no-such-thing');
      expect(api.status).toBe(404);
      expect(api.body.error.message).toBe('No route GET /api/v1/no-such-thing.');
      expect(server.logs.some((l) => l.includes('web UI not built'))).toBe(true);
    } finally {
      await server.close();
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
