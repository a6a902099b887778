import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../helpers/databases.js';
import { pushWorkflow, startRun, waitForRun, waitForStep } from '../helpers/runs.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const CANARY_TOKEN = 'canary-token-7f3a9c1e5b';
const CANARY_HEADER = 'canary-header-2d8e4f6a0c';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A local upstream: echoes requests (credentials included, so scrubbing is put to the test), fails, redirects, floods. */
async function startUpstream() {
  const seen: Seen[] = [];
  let failures = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/api/echo') {
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-echo-auth', String(req.headers.authorization ?? ''));
        res.setHeader('set-cookie', 'session=abc');
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
      } else if (url.pathname === '/api/text') {
        res.setHeader('content-type', 'text/plain');
        res.end('plain words');
      } else if (url.pathname === '/api/fail') {
        failures++;
        res.statusCode = 500;
        // Echoes the credentials into the error body, which the step error keeps the start of.
        res.end(`upstream broke for ${String(req.headers.authorization)}`);
      } else if (url.pathname === '/api/missing') {
        res.statusCode = 404;
        res.end('no such thing');
      } else if (url.pathname === '/api/redirect') {
        res.statusCode = 302;
        res.setHeader('location', url.searchParams.get('to')!);
        res.end();
      } else if (url.pathname === '/api/big') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ data: 'x'.repeat(5000) }));
      } else if (url.pathname === '/api/slow') {
        const t = setTimeout(() => res.end('late'), 1500);
        res.on('close', () => clearTimeout(t));
      } else if (url.pathname === '/admin') {
        res.end('outside the base path');
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { port, seen, failures: () => failures, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Pids of live processes whose argv is exactly `argv`. */
function pidsOf(argv: string[]): number[] {
  const want = argv.join('\0');
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0$/, '');
      const state = fs.readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmd === want && state !== 'Z') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 30));
  }
}

describe.each(testDialects())('file, shell and http tasks through targets (%s)', (dialect) => {
  let s: TestServer;
  let token: string;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let base: string;
  let root: string;
  let outside: string;
  let seq = 0;

  const createTarget = async (name: string, type: string, config: Record<string, unknown>) => {
    const res = await s.request('POST', '/api/v1/targets', { token, body: { name, type, config } });
    if (res.status !== 201) throw new Error(`create target ${name}: ${res.status} ${res.text}`);
    return res.body.id as string;
  };

  /** Runs a one-step workflow (JSON is YAML) and returns the finished run and its step. */
  const runStep = async (step: Record<string, unknown>) => {
    const wf = await pushWorkflow(s, token, JSON.stringify({ name: `tt-${seq++}`, steps: [{ id: 's', ...step }] }));
    const run = await waitForRun(s, token, await startRun(s, token, wf));
    return { run, step: run.steps[0] };
  };

  beforeAll(async () => {
    s = await startTestServer({ dialect });
    token = s.admin.token;
    upstream = await startUpstream();
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-tt-'));
    root = path.join(base, 'root');
    outside = path.join(base, 'outside');
    fs.mkdirSync(path.join(root, 'docs', 'deep'), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(root, 'hello.txt'), 'hello world');
    fs.writeFileSync(path.join(root, 'docs', 'a.md'), '# a');
    fs.writeFileSync(path.join(root, 'docs', 'deep', 'b.md'), '# b');
    fs.writeFileSync(path.join(root, '.hidden'), 'h');
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside secret');
    fs.symlinkSync(outside, path.join(root, 'escape'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'secret-link.txt'));
    await createTarget('files', 'filesystem', { root, read_only: false });
    await createTarget('files-ro', 'filesystem', { root, read_only: true });
    await createTarget('sh', 'shell', {
      cwd: root,
      allowed_programs: ['echo', 'sleep', 'env', 'cat', 'false'],
      env: { GREETING: 'hi' },
      timeout_ms: 20_000,
      max_output_bytes: 64,
    });
    await createTarget('sh-env', 'shell', { cwd: root, allowed_programs: ['env'], env: { GREETING: 'hi' } });
    await createTarget('api', 'http', {
      base_url: `http://127.0.0.1:${upstream.port}/api`,
      auth: { type: 'bearer', token: CANARY_TOKEN },
      headers: { 'x-api-key': CANARY_HEADER },
      allow_private: true,
    });
  });
  afterAll(async () => {
    await s?.close();
    await upstream?.close();
    if (base) fs.rmSync(base, { recursive: true, force: true });
  });

  describe('file.read / file.write / file.list', () => {
    it('reads, writes (overwrite, create, append) and lists inside the root', async () => {
      const read = await runStep({ uses: 'file.read', target: 'files', with: { path: 'hello.txt' } });
      expect(read.run.status).toBe('completed');
      expect(read.step.output).toMatchObject({ path: 'hello.txt', content: 'hello world', encoding: 'utf8', size: 11 });

      const b64 = await runStep({
        uses: 'file.read',
        target: 'files',
        with: { path: './docs/a.md', encoding: 'base64' },
      });
      expect(b64.step.output.content).toBe(Buffer.from('# a').toString('base64'));

      const write = await runStep({
        uses: 'file.write',
        target: 'files',
        with: { path: 'out/new.txt', content: 'first', create_dirs: true },
      });
      expect(write.step.output).toEqual({ path: 'out/new.txt', bytes_written: 5, created: true });
      await runStep({
        uses: 'file.write',
        target: 'files',
        with: { path: 'out/new.txt', content: '+more', mode: 'append' },
      });
      expect(fs.readFileSync(path.join(root, 'out', 'new.txt'), 'utf8')).toBe('first+more');
      const again = await runStep({
        uses: 'file.write',
        target: 'files',
        with: { path: 'out/new.txt', content: 'x', mode: 'create' },
      });
      expect(again.step.error.code).toBe('FILE_EXISTS');
      const over = await runStep({
        uses: 'file.write',
        target: 'files',
        with: { path: 'out/new.txt', content: 'replaced' },
      });
      expect(over.step.output.created).toBe(false);
      expect(fs.readFileSync(path.join(root, 'out', 'new.txt'), 'utf8')).toBe('replaced');
      expect(fs.readdirSync(path.join(root, 'out'))).toEqual(['new.txt']); // no temp file left behind

      const flat = await runStep({ uses: 'file.list', target: 'files', with: {} });
      const names = flat.step.output.entries.map((e: any) => `${e.type}:${e.path}`);
      expect(names).toEqual(
        expect.arrayContaining(['directory:docs', 'file:hello.txt', 'symlink:escape', 'symlink:secret-link.txt']),
      );
      expect(names).not.toContain('file:.hidden');
      expect(names.some((n: string) => n.includes('deep'))).toBe(false);

      const deep = await runStep({ uses: 'file.list', target: 'files', with: { path: 'docs', recursive: true } });
      expect(deep.step.output.entries.map((e: any) => e.path)).toEqual(['docs/a.md', 'docs/deep', 'docs/deep/b.md']);
      // Symlinked folders are listed, never descended into.
      const all = await runStep({ uses: 'file.list', target: 'files', with: { recursive: true, max_entries: 1000 } });
      expect(JSON.stringify(all.step.output)).not.toContain('secret.txt"');
      const capped = await runStep({ uses: 'file.list', target: 'files', with: { recursive: true, max_entries: 2 } });
      expect(capped.step.output.entries).toHaveLength(2);
      expect(capped.step.output.truncated).toBe(true);
    });

    it('refuses writes on a read-only target, files over the size limit, and a missing target', async () => {
      const ro = await runStep({
        uses: 'file.write',
        target: 'files-ro',
        with: { path: 'nope.txt', content: 'x' },
        retry: { max_attempts: 3, delay: '10ms' },
      });
      expect(ro.step.error.code).toBe('TARGET_READ_ONLY');
      expect(ro.step.attempts).toHaveLength(1);
      expect(fs.existsSync(path.join(root, 'nope.txt'))).toBe(false);

      const big = await runStep({ uses: 'file.read', target: 'files', with: { path: 'hello.txt', max_bytes: 5 } });
      expect(big.step.error).toMatchObject({ code: 'FILE_TOO_LARGE', details: { size: 11, max_bytes: 5 } });
      const bigWrite = await runStep({
        uses: 'file.write',
        target: 'files',
        with: { path: 'big.txt', content: 'x'.repeat(10), max_bytes: 4 },
      });
      expect(bigWrite.step.error.code).toBe('FILE_TOO_LARGE');
      const ceiling = await runStep({
        uses: 'file.read',
        target: 'files',
        with: { path: 'hello.txt', max_bytes: 1024 * 1024 * 1024 },
      });
      expect(ceiling.step.error.code).toBe('VALIDATION_FAILED');

      const missing = await runStep({ uses: 'file.read', target: 'files', with: { path: 'nope.txt' } });
      expect(missing.step.error.code).toBe('FILE_NOT_FOUND');
      const noTarget = await runStep({ uses: 'file.read', target: 'nobody', with: { path: 'hello.txt' } });
      expect(noTarget.step.error.code).toBe('TARGET_NOT_FOUND');
      const wrongType = await runStep({ uses: 'file.read', target: 'sh', with: { path: 'hello.txt' } });
      expect(wrongType.step.error.code).toBe('TARGET_TYPE_MISMATCH');
    });

    it.each([
      ['file.read', '../outside/secret.txt'],
      ['file.read', 'docs/../../outside/secret.txt'],
      ['file.read', '/etc/passwd'],
      ['file.read', 'escape/secret.txt'],
      ['file.read', 'secret-link.txt'],
      ['file.list', '..'],
      ['file.list', 'escape'],
      ['file.list', '/'],
      ['file.write', '../outside/planted.txt'],
      ['file.write', '/tmp/planted.txt'],
      ['file.write', 'escape/planted.txt'],
      ['file.write', 'secret-link.txt'],
    ])('%s %s is refused as outside the root (fatal, nothing touched)', async (uses, p) => {
      const { step } = await runStep({
        uses,
        target: 'files',
        with: uses === 'file.write' ? { path: p, content: 'pwned' } : { path: p },
        retry: { max_attempts: 3, delay: '10ms' },
      });
      expect(step.status).toBe('failed');
      expect(step.error.code).toBe('PATH_OUTSIDE_ROOT');
      expect(step.attempts).toHaveLength(1);
      expect(JSON.stringify(step)).not.toContain('outside secret');
      expect(fs.readdirSync(outside)).toEqual(['secret.txt']);
      expect(fs.readFileSync(path.join(outside, 'secret.txt'), 'utf8')).toBe('outside secret');
      expect(fs.existsSync('/tmp/planted.txt')).toBe(false);
    });
  });

  describe('shell.exec', () => {
    it('runs an allowed program with argv, a clean environment and capped output', async () => {
      const { step } = await runStep({ uses: 'shell.exec', target: 'sh', with: { argv: ['echo', 'hello', 'there'] } });
      expect(step.output).toMatchObject({ exit_code: 0, stdout: 'hello there\n', stderr: '', truncated: false });

      const env = await runStep({ uses: 'shell.exec', target: 'sh-env', with: { argv: ['env'] } });
      expect(env.step.output.stdout).toContain('GREETING=hi\n');
      const vars = (env.step.output.stdout as string)
        .trim()
        .split('\n')
        .map((l) => l.split('=')[0])
        .sort();
      expect(vars).toEqual(['GREETING', 'PATH']);

      const stdin = await runStep({ uses: 'shell.exec', target: 'sh', with: { argv: ['cat'], stdin: 'from stdin' } });
      expect(stdin.step.output.stdout).toBe('from stdin');

      const long = await runStep({ uses: 'shell.exec', target: 'sh', with: { argv: ['echo', 'y'.repeat(200)] } });
      expect(long.step.output.stdout).toHaveLength(64);
      expect(long.step.output.truncated).toBe(true);

      const sub = await runStep({ uses: 'shell.exec', target: 'sh', with: { argv: ['cat', 'a.md'], cwd: 'docs' } });
      expect(sub.step.output.stdout).toBe('# a');
      const subOut = await runStep({
        uses: 'shell.exec',
        target: 'sh',
        with: { argv: ['cat', 'secret.txt'], cwd: 'escape' },
      });
      expect(subOut.step.error.code).toBe('PATH_OUTSIDE_ROOT');

      const failing = await runStep({ uses: 'shell.exec', target: 'sh', with: { argv: ['false'] } });
      expect(failing.step.error).toMatchObject({ code: 'COMMAND_FAILED', details: { exit_code: 1 } });
      const tolerated = await runStep({
        uses: 'shell.exec',
        target: 'sh',
        with: { argv: ['false'], fail_on_error: false },
      });
      expect(tolerated.step.output.exit_code).toBe(1);
    });

    it('keeps shell metacharacters literal', async () => {
      const args = ['a; touch pwned', '$(touch pwned2)', '`touch pwned3`', '|', '&&', '>', 'pwned4', '*', '$HOME'];
      const { step } = await runStep({ uses: 'shell.exec', target: 'sh', with: { argv: ['echo', ...args] } });
      expect(step.output.stdout).toBe(`${args.join(' ')}\n`.slice(0, 64));
      for (const f of ['pwned', 'pwned2', 'pwned3', 'pwned4']) expect(fs.existsSync(path.join(root, f))).toBe(false);
    });

    it.each([[['sh', '-c', 'id']], [['/bin/echo', 'x']], [['bash']], [['echo;id']]])(
      'refuses %j: not in the allowlist (fatal)',
      async (argv) => {
        const { step } = await runStep({
          uses: 'shell.exec',
          target: 'sh',
          with: { argv },
          retry: { max_attempts: 3, delay: '10ms' },
        });
        expect(step.error.code).toBe('PROGRAM_NOT_ALLOWED');
        expect(step.attempts).toHaveLength(1);
      },
    );

    it('kills the process group on timeout', async () => {
      const argv = ['sleep', '41.5'];
      const { step } = await runStep({ uses: 'shell.exec', target: 'sh', with: { argv, timeout_ms: 300 } });
      expect(step.error.code).toBe('COMMAND_TIMEOUT');
      await until(() => pidsOf(argv).length === 0);
    });

    it('cancelling the run kills the running command', async () => {
      const argv = ['sleep', '42.5'];
      const wf = await pushWorkflow(
        s,
        token,
        JSON.stringify({ name: `tt-${seq++}`, steps: [{ id: 's', uses: 'shell.exec', target: 'sh', with: { argv } }] }),
      );
      const runId = await startRun(s, token, wf);
      await waitForStep(s, token, runId, 's', 'running');
      await until(() => pidsOf(argv).length === 1);
      expect((await s.request('POST', `/api/v1/runs/${runId}/cancel`, { token })).status).toBe(200);
      const run = await waitForRun(s, token, runId);
      expect(run.status).toBe('cancelled');
      await until(() => pidsOf(argv).length === 0);
    });
  });

  describe('http.request', () => {
    it('calls the target with its auth, query, JSON body and idempotency key; parses JSON', async () => {
      const before = upstream.seen.length;
      const { run, step } = await runStep({
        uses: 'http.request',
        target: 'api',
        with: { method: 'POST', path: '/echo', query: { q: 'a b', n: [1, 2] }, json: { hello: 'world' } },
      });
      expect(run.status).toBe('completed');
      const got = upstream.seen[before]!;
      expect(got.url).toBe('/api/echo?q=a+b&n=1&n=2');
      expect(got.headers.authorization).toBe(`Bearer ${CANARY_TOKEN}`);
      expect(got.headers['x-api-key']).toBe(CANARY_HEADER);
      expect(got.headers['content-type']).toBe('application/json');
      expect(got.headers['idempotency-key']).toBe(`${run.id}:s:1`);
      expect(JSON.parse(got.body)).toEqual({ hello: 'world' });
      expect(step.output.status).toBe(200);
      expect(step.output.truncated).toBe(false);
      expect(step.output.body).toMatchObject({ method: 'POST', body: '{"hello":"world"}' });
      expect(step.output.headers['set-cookie']).toBeUndefined();

      const text = await runStep({ uses: 'http.request', target: 'api', with: { path: 'text' } });
      expect(text.step.output.body).toBe('plain words');
      const big = await runStep({ uses: 'http.request', target: 'api', with: { path: 'big', max_body_bytes: 100 } });
      expect(big.step.output.truncated).toBe(true);
      expect(big.step.output.body).toHaveLength(100);
    });

    it('retries 5xx answers, fails 4xx at once', async () => {
      const before = upstream.failures();
      const five = await runStep({
        uses: 'http.request',
        target: 'api',
        with: { path: 'fail' },
        retry: { max_attempts: 2, delay: '10ms' },
      });
      expect(five.step.error).toMatchObject({ code: 'UPSTREAM_HTTP_ERROR', details: { status: 500 } });
      expect(five.step.attempts).toHaveLength(2);
      expect(upstream.failures() - before).toBe(2);
      const four = await runStep({
        uses: 'http.request',
        target: 'api',
        with: { path: 'missing' },
        retry: { max_attempts: 3, delay: '10ms' },
      });
      expect(four.step.error).toMatchObject({ code: 'UPSTREAM_HTTP_ERROR', details: { status: 404 } });
      expect(four.step.attempts).toHaveLength(1);
      const tolerated = await runStep({
        uses: 'http.request',
        target: 'api',
        with: { path: 'missing', fail_on_status: false },
      });
      expect(tolerated.step.output.status).toBe(404);
    });

    it('fails oversized answers at once and retries timeouts', async () => {
      await createTarget('api-small', 'http', {
        base_url: `http://127.0.0.1:${upstream.port}/api`,
        allow_private: true,
        max_response_bytes: 1000,
        timeout_ms: 200,
      });
      const big = await runStep({
        uses: 'http.request',
        target: 'api-small',
        with: { path: 'big' },
        retry: { max_attempts: 3, delay: '10ms' },
      });
      expect(big.step.error.code).toBe('OUTBOUND_TOO_LARGE');
      expect(big.step.attempts).toHaveLength(1);
      const slow = await runStep({
        uses: 'http.request',
        target: 'api-small',
        with: { path: 'slow', timeout_ms: 60_000 },
        retry: { max_attempts: 2, delay: '10ms' },
      });
      // The step cannot raise the target's 200 ms limit.
      expect(slow.step.error.code).toBe('OUTBOUND_TIMEOUT');
      expect(slow.step.attempts).toHaveLength(2);
    });

    it.each([
      'http://169.254.169.254/latest/meta-data',
      '//169.254.169.254/latest',
      '@169.254.169.254/',
      '../admin',
      '%2e%2e/admin',
      'echo\\..\\..\\admin',
    ])('keeps path %s on the target host and below its base path', async (p) => {
      const before = upstream.seen.length;
      const { step } = await runStep({ uses: 'http.request', target: 'api', with: { path: p } });
      if (step.status === 'completed') {
        // Whatever it asked for, the request stayed below /api on the target's host.
        expect(upstream.seen.slice(before).every((r) => r.url.startsWith('/api/'))).toBe(true);
      } else if (step.error.code === 'VALIDATION_FAILED') {
        expect(upstream.seen.length).toBe(before);
      } else {
        // Sent as a literal path segment below /api, which the upstream does not know.
        expect(step.error).toMatchObject({ code: 'UPSTREAM_HTTP_ERROR', details: { status: 404 } });
        expect(upstream.seen.slice(before).map((r) => r.url)).toEqual([expect.stringMatching(/^\/api\//)]);
      }
    });

    it.each([
      ['loopback', (port: number) => `http://127.0.0.1:${port}/api`],
      ['metadata', () => 'http://169.254.169.254/latest'],
      ['mapped IPv6', (port: number) => `http://[::ffff:127.0.0.1]:${port}/api`],
      ['decimal IPv4', (port: number) => `http://2130706433:${port}/api`],
      ['localhost name', (port: number) => `http://localhost:${port}/api`],
    ])('refuses a %s target without allow_private (fatal, nothing sent)', async (label, url) => {
      const name = `blocked-${label.replace(/\W/g, '-')}`;
      await createTarget(name, 'http', { base_url: url(upstream.port), allow_private: false });
      const before = upstream.seen.length;
      const { step } = await runStep({
        uses: 'http.request',
        target: name,
        with: { path: 'echo' },
        retry: { max_attempts: 3, delay: '10ms' },
      });
      expect(step.error.code).toBe('OUTBOUND_BLOCKED');
      expect(step.attempts).toHaveLength(1);
      expect(upstream.seen.length).toBe(before);
    });

    it.each([
      'http://169.254.169.254/latest/meta-data',
      'http://127.0.0.1:1/',
      'http://[::ffff:127.0.0.1]:1/',
      'http://2130706433:1/',
    ])('refuses a redirect to %s', async (to) => {
      const { step } = await runStep({
        uses: 'http.request',
        target: 'api',
        with: { path: 'redirect', query: { to } },
        retry: { max_attempts: 3, delay: '10ms' },
      });
      expect(step.error.code).toBe('OUTBOUND_BLOCKED');
      expect(step.attempts).toHaveLength(1);
    });
  });

  it("never lets a target's secrets into step outputs, errors, events or logs", async () => {
    // The upstream echoes the credentials back in its body and headers; they are scrubbed.
    const wf = await pushWorkflow(
      s,
      token,
      JSON.stringify({
        name: `tt-${seq++}`,
        steps: [
          { id: 'ok', uses: 'http.request', target: 'api', with: { path: 'echo' } },
          { id: 'bad', uses: 'http.request', target: 'api', with: { path: 'fail' }, continue_on_error: true },
        ],
        outputs: { echoed: '${{ steps.ok.output }}' },
      }),
    );
    const runId = await startRun(s, token, wf);
    const run = await waitForRun(s, token, runId);
    expect(run.steps.find((x: any) => x.key === 'ok').output.body.headers.authorization).toBe('Bearer [redacted]');
    expect(run.steps.find((x: any) => x.key === 'bad').error.details.body).toBe('upstream broke for Bearer [redacted]');
    const events = await s.request('GET', `/api/v1/runs/${runId}/events`, { token });
    expect(events.status).toBe(200);
    const targets = await s.request('GET', '/api/v1/targets', { token });
    const seen = [
      JSON.stringify(run),
      JSON.stringify(events.body),
      JSON.stringify(targets.body),
      ...s.logs,
      ...s.responses,
    ];
    for (const canary of [CANARY_TOKEN, CANARY_HEADER]) {
      expect(seen.filter((x) => x.includes(canary))).toEqual([]);
    }
    // It did reach the upstream: the check above is not vacuous.
    expect(upstream.seen.some((r) => r.headers.authorization === `Bearer ${CANARY_TOKEN}`)).toBe(true);
  });
  describe('steps that use a capability', () => {
    it("runs the capability's task with its defaults, schema and target types; save checks the name", async () => {
      const cap = await s.request('POST', '/api/v1/capabilities', {
        token,
        body: {
          name: 'read-docs',
          task_type: 'file.read',
          target_types: ['filesystem'],
          input_schema: {
            type: 'object',
            required: ['path'],
            properties: { path: { type: 'string', pattern: '^docs/' } },
          },
          defaults: { max_bytes: 100 },
        },
      });
      expect(cap.status).toBe(201);

      const ok = await runStep({ uses: 'read-docs', target: 'files', with: { path: 'docs/a.md' } });
      expect(ok.run.status).toBe('completed');
      expect(ok.step.output).toMatchObject({ path: 'docs/a.md', content: '# a' });
      // The defaults are under the step's own values: max_bytes 100 came from the capability.
      expect(ok.step.attempts[0].input).toEqual({ path: 'docs/a.md', max_bytes: 100 });
      const tooSmall = await runStep({ uses: 'read-docs', target: 'files', with: { path: 'docs/a.md', max_bytes: 1 } });
      expect(tooSmall.step.error.code).toBe('FILE_TOO_LARGE');

      // The capability's input schema is enforced on the rendered input, naming the field.
      const outside = await runStep({ uses: 'read-docs', target: 'files', with: { path: 'hello.txt' } });
      expect(outside.step.error).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(outside.step.error.message).toContain('with/path');
      const missing = await runStep({ uses: 'read-docs', target: 'files', with: {} });
      expect(missing.step.error.message).toContain('with/path');
      // Its target types too.
      const wrongType = await runStep({ uses: 'read-docs', target: 'sh', with: { path: 'docs/a.md' } });
      expect(wrongType.step.error.code).toBe('TARGET_TYPE_MISMATCH');
      const noTarget = await runStep({ uses: 'read-docs', with: { path: 'docs/a.md' } });
      expect(noTarget.step.error.code).toBe('TARGET_REQUIRED');

      // The step is recorded under the capability's name.
      const summary = await s.request('GET', '/api/v1/analytics/summary', { token });
      expect(summary.body.top_capabilities.map((c: { capability: string }) => c.capability)).toContain('read-docs');

      // Saving checks the name against the saver's own capabilities: another user cannot use it.
      const unknown = await s.request('POST', '/api/v1/workflows', {
        token,
        body: { source: 'name: cap-unknown\nsteps:\n  - id: a\n    uses: read-dogs\n' },
      });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.details.issues[0]).toMatchObject({ path: '/steps/0/uses', step: 'a', line: 4 });
      expect(unknown.body.error.details.issues[0].message).toContain('unknown task type or capability');
      const other = await s.createUser('operator');
      const theirs = await s.request('POST', '/api/v1/workflows', {
        token: other.token,
        body: { source: 'name: cap-theirs\nsteps:\n  - id: a\n    uses: read-docs\n    target: files\n' },
      });
      expect(theirs.status).toBe(400);

      // A capability deleted after the save fails the step with a clear code, not a crash.
      const wf = await pushWorkflow(
        s,
        token,
        JSON.stringify({
          name: 'cap-deleted',
          steps: [{ id: 's', uses: 'read-docs', target: 'files', with: { path: 'docs/a.md' } }],
        }),
      );
      expect((await s.request('DELETE', `/api/v1/capabilities/${cap.body.id}`, { token })).status).toBe(204);
      const gone = await waitForRun(s, token, await startRun(s, token, wf));
      expect(gone.steps[0].error.code).toBe('CAPABILITY_NOT_FOUND');
    });
  });
});
