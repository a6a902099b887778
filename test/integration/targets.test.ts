import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/targets/shell/run-command.js';
import { testDialects } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const CANARY = 'canary-7f3a9c1e-secret-value';
const CANARY_HEADER = 'canary-header-0b12d-secret';

describe.each(testDialects())('targets on %s', (dialect) => {
  let s: TestServer;
  let op: { id: string; token: string };
  let other: { token: string };
  let viewer: { token: string };
  let folder: string;
  let upstream: http.Server;
  let upstreamUrl: string;
  const seen: { authorization?: string | undefined; key?: string | undefined }[] = [];

  beforeAll(async () => {
    s = await startTestServer({ dialect });
    op = await s.createUser('operator');
    other = await s.createUser('operator');
    viewer = await s.createUser('viewer');
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-target-'));
    upstream = http.createServer((req, res) => {
      seen.push({ authorization: req.headers.authorization, key: req.headers['x-api-key'] as string | undefined });
      res.statusCode = req.url === '/private' ? 401 : 200;
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await s?.close();
    await new Promise<void>((r) => upstream?.close(() => r()));
    fs.rmSync(folder, { recursive: true, force: true });
  });

  const create = (body: unknown, token = op.token) => s.request('POST', '/api/v1/targets', { token, body });

  it('creates, reads, lists, updates and deletes a filesystem target', async () => {
    const res = await create({ name: 'docs', type: 'filesystem', config: { root: folder } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'docs',
      type: 'filesystem',
      config: { root: folder, read_only: true },
      status: 'disconnected',
      secrets_set: [],
    });
    const id = res.body.id;
    expect((await s.request('GET', `/api/v1/targets/${id}`, { token: op.token })).body.name).toBe('docs');

    const patched = await s.request('PATCH', `/api/v1/targets/${id}`, {
      token: op.token,
      body: { description: 'the docs folder', config: { root: folder, read_only: false } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ description: 'the docs folder', config: { read_only: false } });

    const put = await s.request('PUT', `/api/v1/targets/${id}`, {
      token: op.token,
      body: { name: 'docs2', type: 'filesystem', config: { root: folder, read_only: true } },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ name: 'docs2', description: '', config: { read_only: true } });

    await create({ name: 'zeta', type: 'shell', config: { cwd: folder, allowed_programs: ['ls'] } });
    await create({ name: 'alpha', type: 'shell', config: { cwd: folder, allowed_programs: ['ls'] } });
    const byName = await s.request('GET', '/api/v1/targets?sort=name&order=asc&limit=2', { token: op.token });
    expect(byName.body.items.map((t: { name: string }) => t.name)).toEqual(['alpha', 'docs2']);
    const next = await s.request(
      'GET',
      `/api/v1/targets?sort=name&order=asc&limit=2&cursor=${byName.body.next_cursor}`,
      {
        token: op.token,
      },
    );
    expect(next.body.items.map((t: { name: string }) => t.name)).toEqual(['zeta']);
    expect(next.body.next_cursor).toBeNull();
    const shells = await s.request('GET', '/api/v1/targets?type=shell&q=ALP', { token: op.token });
    expect(shells.body.items.map((t: { name: string }) => t.name)).toEqual(['alpha']);
    const escaped = await s.request('GET', '/api/v1/targets?q=%25', { token: op.token });
    expect(escaped.body.items).toEqual([]);

    expect((await s.request('DELETE', `/api/v1/targets/${id}`, { token: op.token })).status).toBe(204);
    expect((await s.request('GET', `/api/v1/targets/${id}`, { token: op.token })).body.error.code).toBe(
      'TARGET_NOT_FOUND',
    );
  });

  it('refuses bad configs, unknown and mass-assigned fields, mcp, and duplicate names', async () => {
    const bad = await create({ name: 'x1', type: 'filesystem', config: { root: 'relative/path' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: '/config/root' } });
    const extra = await create({ name: 'x2', type: 'shell', config: { cwd: folder, allowed_programs: ['ls'], x: 1 } });
    expect(extra.body.error.details.field).toBe('/config/x');
    const noProg = await create({ name: 'x3', type: 'shell', config: { cwd: folder, allowed_programs: [] } });
    expect(noProg.body.error.details.field).toBe('/config/allowed_programs');
    const ld = await create({
      name: 'x4',
      type: 'shell',
      config: { cwd: folder, allowed_programs: ['ls'], env: { LD_PRELOAD: '/tmp/x.so' } },
    });
    expect(ld.body.error.details.field).toBe('/config/env/LD_PRELOAD');
    const noToken = await create({
      name: 'x5',
      type: 'http',
      config: { base_url: upstreamUrl, auth: { type: 'bearer' } },
    });
    expect(noToken.body.error.details.field).toBe('/config/auth/token');
    const dataDir = await create({ name: 'x6', type: 'filesystem', config: { root: path.dirname(s.dataDir) } });
    expect(dataDir.body.error.details.field).toBe('/config/root');
    const mcp = await create({ name: 'x7', type: 'mcp', config: {} });
    expect(mcp.status).toBe(400);
    expect(mcp.body.error.code).toBe('TARGET_TYPE_NOT_SUPPORTED');
    for (const field of ['id', 'owner_id', 'status', 'system']) {
      const r = await create({ name: 'x8', type: 'filesystem', config: { root: folder }, [field]: 'x' });
      expect(r.status).toBe(400);
      expect(r.body.error.details.field).toBe(`body/${field}`);
    }
    expect((await create({ name: 'dup', type: 'filesystem', config: { root: folder } })).status).toBe(201);
    const dup = await create({ name: 'dup', type: 'filesystem', config: { root: folder } });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'TARGET_EXISTS', details: { field: 'name' } });
    // Names are per owner.
    expect((await create({ name: 'dup', type: 'filesystem', config: { root: folder } }, other.token)).status).toBe(201);
  });

  it("answers 404 for another user's target and 403 to a viewer who writes", async () => {
    const mine = await create({ name: 'private-one', type: 'filesystem', config: { root: folder } });
    const id = mine.body.id;
    for (const [method, url, body] of [
      ['GET', `/api/v1/targets/${id}`, undefined],
      ['PATCH', `/api/v1/targets/${id}`, { description: 'x' }],
      ['PUT', `/api/v1/targets/${id}`, { name: 'y', type: 'filesystem', config: { root: folder } }],
      ['DELETE', `/api/v1/targets/${id}`, undefined],
      ['POST', `/api/v1/targets/${id}/test`, undefined],
    ] as const) {
      const r = await s.request(method, url, { token: other.token, ...(body ? { body } : {}) });
      expect(r.status, `${method} ${url}`).toBe(404);
      expect(r.body.error.code).toBe('TARGET_NOT_FOUND');
    }
    const list = await s.request('GET', '/api/v1/targets', { token: other.token });
    expect(list.body.items.map((t: { id: string }) => t.id)).not.toContain(id);

    expect((await s.request('GET', '/api/v1/targets', { token: viewer.token })).status).toBe(200);
    const write = await create({ name: 'v', type: 'filesystem', config: { root: folder } }, viewer.token);
    expect(write.status).toBe(403);
    expect((await s.request('DELETE', `/api/v1/targets/${id}`, { token: viewer.token })).status).toBe(403);
    expect((await s.request('POST', `/api/v1/targets/${id}/test`, { token: viewer.token })).status).toBe(403);
  });

  it('tests targets for real and says why not', async () => {
    const missing = await create({ name: 'gone', type: 'filesystem', config: { root: path.join(folder, 'nope') } });
    const t1 = await s.request('POST', `/api/v1/targets/${missing.body.id}/test`, { token: op.token });
    expect(t1.status).toBe(200);
    expect(t1.body).toMatchObject({ ok: false, status: 'error', details: { reason: 'not_found' } });
    expect(t1.body.message).toContain('does not exist');
    const after = await s.request('GET', `/api/v1/targets/${missing.body.id}`, { token: op.token });
    expect(after.body).toMatchObject({ status: 'error', last_error: t1.body.message });
    expect(after.body.last_tested_at).not.toBeNull();

    const okFs = await create({ name: 'here', type: 'filesystem', config: { root: folder, read_only: false } });
    const t2 = await s.request('POST', `/api/v1/targets/${okFs.body.id}/test`, { token: op.token });
    expect(t2.body).toMatchObject({ ok: true, status: 'connected' });

    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = await create({
      name: 'down',
      type: 'http',
      config: { base_url: `http://127.0.0.1:${closedPort}`, allow_private: true },
    });
    const t3 = await s.request('POST', `/api/v1/targets/${down.body.id}/test`, { token: op.token });
    expect(t3.body).toMatchObject({ ok: false, status: 'error', details: { code: 'OUTBOUND_FAILED' } });
    expect(t3.body.message).toContain('ECONNREFUSED');

    const priv = await create({ name: 'priv', type: 'http', config: { base_url: upstreamUrl } });
    const t4 = await s.request('POST', `/api/v1/targets/${priv.body.id}/test`, { token: op.token });
    expect(t4.body).toMatchObject({ ok: false, details: { code: 'OUTBOUND_BLOCKED' } });

    const up = await create({ name: 'up', type: 'http', config: { base_url: upstreamUrl, allow_private: true } });
    const t5 = await s.request('POST', `/api/v1/targets/${up.body.id}/test`, { token: op.token });
    expect(t5.body).toMatchObject({ ok: true, status: 'connected', details: { http_status: 200 } });

    const noProgram = await create({
      name: 'noprog',
      type: 'shell',
      config: { cwd: folder, allowed_programs: ['clarion-no-such-program'] },
    });
    const t6 = await s.request('POST', `/api/v1/targets/${noProgram.body.id}/test`, { token: op.token });
    expect(t6.body).toMatchObject({ ok: false, details: { missing_programs: ['clarion-no-such-program'] } });
    const sh = await create({ name: 'sh-ok', type: 'shell', config: { cwd: folder, allowed_programs: ['ls'] } });
    const t7 = await s.request('POST', `/api/v1/targets/${sh.body.id}/test`, { token: op.token });
    expect(t7.body).toMatchObject({ ok: true, status: 'connected', details: { program: 'ls', exit_code: 0 } });

    // A run through the target: a program outside its allowlist is refused with the reason.
    const resolved = await s.app.services.targets.resolveForRun(op.id, 'sh-ok');
    expect(resolved.type).toBe('shell');
    if (resolved.type !== 'shell') return;
    await expect(
      runCommand(['rm', '-rf', folder], {
        cwd: resolved.config.cwd,
        allowedPrograms: resolved.config.allowed_programs,
        timeoutMs: 1000,
        maxOutputBytes: 1000,
      }),
    ).rejects.toMatchObject({ code: 'PROGRAM_NOT_ALLOWED', message: expect.stringContaining('"rm"') });
    expect(fs.existsSync(folder)).toBe(true);
  });

  it('keeps secrets write-only: sealed at rest, never in a response, log line or error', async () => {
    const res = await create({
      name: 'api',
      type: 'http',
      config: {
        base_url: upstreamUrl,
        allow_private: true,
        headers: { 'X-Api-Key': CANARY_HEADER },
        auth: { type: 'bearer', token: CANARY },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body.config.auth).toEqual({ type: 'bearer', token: { set: true } });
    expect(res.body.config.headers).toEqual({ 'X-Api-Key': { set: true } });
    expect(res.body.secrets_set.sort()).toEqual(['/auth/token', '/headers/X-Api-Key']);
    const id = res.body.id;

    // At rest the row holds only sealed values.
    const row = await s.app.database.db
      .selectFrom('targets')
      .select('config')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.config).not.toContain(CANARY);
    expect(row.config).not.toContain(CANARY_HEADER);
    expect(row.config).toContain('enc:v1:');

    // Updating without the secret (or echoing the placeholder) keeps it.
    await s.request('PATCH', `/api/v1/targets/${id}`, {
      token: op.token,
      body: {
        config: {
          base_url: upstreamUrl,
          allow_private: true,
          headers: { 'X-Api-Key': { set: true } },
          auth: { type: 'bearer' },
        },
      },
    });
    await s.request('PUT', `/api/v1/targets/${id}`, {
      token: op.token,
      body: {
        name: 'api',
        type: 'http',
        config: { ...(await s.request('GET', `/api/v1/targets/${id}`, { token: op.token })).body.config },
      },
    });
    const resolved = await s.app.services.targets.resolveForRun(op.id, id);
    expect(resolved.config).toMatchObject({
      auth: { type: 'bearer', token: CANARY },
      headers: { 'X-Api-Key': CANARY_HEADER },
    });

    // The test call really sends them.
    seen.length = 0;
    const tested = await s.request('POST', `/api/v1/targets/${id}/test`, { token: op.token });
    expect(tested.body.ok).toBe(true);
    expect(seen[0]).toEqual({ authorization: `Bearer ${CANARY}`, key: CANARY_HEADER });

    // Error paths that echo input back.
    const bad = await s.request('PATCH', `/api/v1/targets/${id}`, {
      token: op.token,
      body: { config: { base_url: 'not a url', auth: { type: 'bearer', token: CANARY } } },
    });
    expect(bad.status).toBe(400);
    const badType = await s.request('PATCH', `/api/v1/targets/${id}`, {
      token: op.token,
      body: { config: { base_url: upstreamUrl, auth: { type: 'bearer', token: 12345, note: CANARY } } },
    });
    expect(badType.status).toBe(400);
    await s.request('GET', '/api/v1/targets', { token: op.token });
    await s.request('GET', `/api/v1/targets/${id}`, { token: other.token });

    // Another user cannot resolve it either.
    await expect(s.app.services.targets.resolveForRun('someone-else', id)).rejects.toMatchObject({
      code: 'TARGET_NOT_FOUND',
    });

    for (const text of [...s.responses, ...s.logs]) {
      expect(text).not.toContain(CANARY);
      expect(text).not.toContain(CANARY_HEADER);
    }
  });
});
