import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushWorkflow, startRun, waitForRun } from '../helpers/runs.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** Attacks through workflow steps: every one must fail the step with the guard's code, touching nothing. */
describe('target tasks refuse attacks when driven by a workflow', () => {
  let s: TestServer;
  let root: string;
  let outside: string;
  let upstream: http.Server;
  let hits = 0;
  beforeAll(async () => {
    s = await startTestServer();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-root-'));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-outside-'));
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'top secret');
    fs.writeFileSync(path.join(root, 'ok.txt'), 'fine');
    fs.symlinkSync(outside, path.join(root, 'escape'));
    upstream = http.createServer((req, res) => {
      hits++;
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://127.0.0.1:1/' });
        return res.end();
      }
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as { port: number }).port;
    const mk = async (name: string, type: string, config: unknown) => {
      const r = await s.request('POST', '/api/v1/targets', { token: s.admin.token, body: { name, type, config } });
      expect(r.status, r.text).toBe(201);
    };
    await mk('files', 'filesystem', { root, read_only: false });
    await mk('sh', 'shell', { cwd: root, allowed_programs: ['echo'] });
    await mk('local', 'http', { base_url: `http://127.0.0.1:${port}/` });
    await mk('meta', 'http', { base_url: 'http://169.254.169.254/' });
    await mk('mapped', 'http', { base_url: 'http://[::ffff:127.0.0.1]:1/' });
    await mk('decimal', 'http', { base_url: 'http://2130706433:1/' });
    await mk('trusted', 'http', { base_url: `http://127.0.0.1:${port}/`, allow_private: true });
  });
  afterAll(async () => {
    await s?.close();
    await new Promise<void>((r) => upstream.close(() => r()));
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  const stepError = async (name: string, step: string) => {
    const wf = await pushWorkflow(s, s.admin.token, `name: ${name}\nsteps:\n  - ${step}\n`);
    const run = await waitForRun(s, s.admin.token, await startRun(s, s.admin.token, wf));
    return { run, error: run.steps[0].error, attempts: run.steps[0].attempts.length };
  };

  it('keeps file steps inside the root: .., absolute paths and symlinks out', async () => {
    for (const [i, p] of ['../secret.txt', `${outside}/secret.txt`, 'escape/secret.txt'].entries()) {
      const r = await stepError(
        `fs-read-${i}`,
        `{ id: r, uses: file.read, target: files, with: { path: "${p}" }, retry: { max_attempts: 3, delay: 10ms } }`,
      );
      expect(r.run.status).toBe('failed');
      expect(r.error.code).toBe('PATH_OUTSIDE_ROOT');
      expect(r.attempts).toBe(1); // refusals are not retried
    }
    const w = await stepError(
      'fs-write',
      `{ id: w, uses: file.write, target: files, with: { path: "escape/planted.txt", content: "x" } }`,
    );
    expect(w.error.code).toBe('PATH_OUTSIDE_ROOT');
    expect(fs.existsSync(path.join(outside, 'planted.txt'))).toBe(false);
    const ok = await stepError('fs-ok', `{ id: r, uses: file.read, target: files, with: { path: "ok.txt" } }`);
    expect(ok.run.status).toBe('completed');
    expect(ok.run.steps[0].output.content).toBe('fine');
  });

  it('runs only allowed programs, with arguments never read by a shell', async () => {
    const bad = await stepError(
      'sh-bad',
      `{ id: x, uses: shell.exec, target: sh, with: { argv: ["rm", "-rf", "/"] } }`,
    );
    expect(bad.error.code).toBe('PROGRAM_NOT_ALLOWED');
    const meta = await stepError(
      'sh-meta',
      `{ id: x, uses: shell.exec, target: sh, with: { argv: ["echo", "a; cat /etc/passwd", "$(id)"] } }`,
    );
    expect(meta.run.status).toBe('completed');
    expect(meta.run.steps[0].output.stdout).toBe('a; cat /etc/passwd $(id)\n');
  });

  it('refuses private, metadata, mapped and decimal addresses and redirects to them', async () => {
    const before = hits;
    for (const t of ['local', 'meta', 'mapped', 'decimal']) {
      const r = await stepError(`http-${t}`, `{ id: x, uses: http.request, target: ${t}, with: { path: "/" } }`);
      expect(r.error.code, t).toBe('OUTBOUND_BLOCKED');
    }
    expect(hits).toBe(before);
    const redirect = await stepError(
      'http-redirect',
      `{ id: x, uses: http.request, target: trusted, with: { path: "/redirect" } }`,
    );
    expect(redirect.run.status).toBe('failed');
    expect(['OUTBOUND_BLOCKED', 'OUTBOUND_FAILED']).toContain(redirect.error.code);
    const absolute = await stepError(
      'http-abs',
      `{ id: x, uses: http.request, target: trusted, with: { path: "http://169.254.169.254/latest" } }`,
    );
    expect(absolute.error.code).toBe('VALIDATION_FAILED');
    const ok = await stepError('http-ok', `{ id: x, uses: http.request, target: trusted, with: { path: "/fine" } }`);
    expect(ok.run.steps[0].output).toMatchObject({ status: 200 });
  });

  it("cannot use another user's target", async () => {
    const other = await s.createUser('operator');
    const wf = await pushWorkflow(
      s,
      other.token,
      `name: steal\nsteps:\n  - { id: r, uses: file.read, target: files, with: { path: ok.txt } }\n`,
    );
    const run = await waitForRun(s, other.token, await startRun(s, other.token, wf));
    expect(run.steps[0].error.code).toBe('TARGET_NOT_FOUND');
  });
});
