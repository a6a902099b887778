import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PASSWORD = 'crash-test-admin-password';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function startServer(dataDir: string, port: number): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      CLARION_DATA_DIR: dataDir,
      CLARION_PORT: String(port),
      CLARION_ADMIN_PASSWORD: PASSWORD,
      CLARION_LOG_LEVEL: 'warn',
      // A short lease so the restarted process takes over quickly.
      CLARION_ENGINE_LEASE: '1500ms',
      CLARION_ENGINE_POLL_INTERVAL: '100ms',
      CLARION_LLM_AUTODETECT: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

async function waitReady(url: string): Promise<void> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${url}/ready`)).ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('server did not become ready');
}

describe('engine crash recovery (SQLite, child process, SIGKILL)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-crash-'));
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('finishes every run after kill -9 with no step completed twice', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    child = startServer(dataDir, port);
    await waitReady(url);
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    const { access_token: token } = (await login.json()) as { access_token: string };
    const api = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(url + p, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const source = `name: crashy
steps:
  - { id: a, uses: delay, with: { duration: 150ms } }
  - id: fan
    needs: [a]
    foreach: \${{ [1, 2, 3, 4, 5, 6] }}
    concurrency: 3
    uses: delay
    with: { duration: 250ms }
  - { id: b, needs: [fan], uses: delay, with: { duration: 200ms } }
  - { id: c, needs: [b], uses: transform, with: { done: true } }
outputs: { done: "\${{ steps.c.output.done }}" }
`;
    expect((await api('POST', '/api/v1/workflows', { source })).status).toBe(201);
    const runIds: string[] = [];
    for (let i = 0; i < 6; i++) runIds.push((await api('POST', '/api/v1/workflows/crashy/runs', {})).body.run_id);

    // Kill it while steps are in flight.
    const until = Date.now() + 20_000;
    for (;;) {
      const list = await api('GET', '/api/v1/runs?status=running');
      const detail = list.body.items.length ? await api('GET', `/api/v1/runs/${list.body.items[0].id}`) : undefined;
      if (detail?.body.steps.some((s: any) => s.key.startsWith('fan#') && s.status === 'running')) break;
      if (Date.now() > until) throw new Error('runs never got going');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));

    child = startServer(dataDir, port);
    await waitReady(url);
    const done = Date.now() + 60_000;
    for (;;) {
      const statuses = await Promise.all(
        runIds.map(async (id) => (await api('GET', `/api/v1/runs/${id}`)).body.status),
      );
      if (statuses.every((s) => s === 'completed')) break;
      if (statuses.some((s) => s === 'failed' || s === 'cancelled'))
        throw new Error(`a run ended ${statuses.join(',')}`);
      if (Date.now() > done) throw new Error(`runs stuck: ${statuses.join(',')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;

    const db = new Database(path.join(dataDir, 'clarion.db'), { readonly: true });
    try {
      const completedTwice = db
        .prepare(
          `select run_id, step_key, count(*) n from step_attempts where status = 'completed' group by run_id, step_key having n > 1`,
        )
        .all();
      expect(completedTwice).toEqual([]);
      const eventsTwice = db
        .prepare(
          `select run_id, step_key, count(*) n from run_events where type = 'step.completed' group by run_id, step_key having n > 1`,
        )
        .all();
      expect(eventsTwice).toEqual([]);
      // Every step of every run completed exactly once (4 steps + 6 foreach items).
      const perRun = db
        .prepare(`select run_id, count(*) n from run_steps where status = 'completed' group by run_id`)
        .all() as { n: number }[];
      expect(perRun.map((r) => r.n)).toEqual(runIds.map(() => 10));
      // The interrupted attempts ran again under the same idempotency key.
      const interrupted = db
        .prepare(`select run_id, step_key, attempt, idempotency_key from step_attempts where status = 'interrupted'`)
        .all() as {
        run_id: string;
        step_key: string;
        attempt: number;
        idempotency_key: string;
      }[];
      expect(interrupted.length).toBeGreaterThan(0);
      for (const i of interrupted) {
        const again = db
          .prepare(
            `select idempotency_key from step_attempts where run_id = ? and step_key = ? and status = 'completed'`,
          )
          .get(i.run_id, i.step_key) as { idempotency_key: string };
        expect(again.idempotency_key).toBe(i.idempotency_key);
      }
    } finally {
      db.close();
    }
  }, 150_000);
});
