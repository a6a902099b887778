import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testDialects } from '../helpers/databases.js';
import { pushWorkflow, startRun, waitForRun } from '../helpers/runs.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** A socket that collects every message; `next(pred)` waits for one matching. */
function connect(url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers });
  const got: any[] = [];
  let waiters: { pred: (m: any) => boolean; resolve: (m: any) => void }[] = [];
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw));
    got.push(m);
    waiters = waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
  });
  const closed = new Promise<{ code: number }>((resolve) => ws.on('close', (code) => resolve({ code })));
  return {
    ws,
    got,
    closed,
    open: () => new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject))),
    send: (m: unknown) => ws.send(JSON.stringify(m)),
    next: (pred: (m: any) => boolean, ms = 10_000) =>
      new Promise<any>((resolve, reject) => {
        const hit = got.find(pred);
        if (hit) return resolve(hit);
        waiters.push({ pred, resolve });
        setTimeout(() => reject(new Error(`no message matched; got ${JSON.stringify(got)}`)), ms);
      }),
  };
}

describe.each(testDialects())('WebSocket hub (%s)', (dialect) => {
  let s: TestServer;
  let wsUrl: string;
  beforeAll(async () => {
    s = await startTestServer({ dialect });
    wsUrl = s.url.replace('http', 'ws') + '/ws';
  });
  afterAll(async () => s?.close());

  it('replays missed run events after a sequence, then streams live ones', async () => {
    const wf = await pushWorkflow(
      s,
      s.admin.token,
      `name: ws1\nsteps:\n  - { id: a, uses: delay, with: { duration: 150ms } }\n  - { id: b, needs: [a], uses: transform, with: {} }\n`,
    );
    const runId = await startRun(s, s.admin.token, wf);
    const c = connect(`${wsUrl}?token=${s.admin.token}`);
    await c.open();
    await c.next((m) => m.type === 'ready');
    c.send({ type: 'subscribe', channel: `run:${runId}`, after: 1 });
    const end = await c.next((m) => m.type === 'event' && m.event.type === 'run.completed');
    const seqs = c.got.filter((m) => m.type === 'event').map((m) => m.event.seq);
    expect(seqs[0]).toBe(2);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 2));
    expect(end.event.run_id).toBe(runId);
    expect(JSON.stringify(c.got)).not.toContain('_user');
    c.ws.close();
  });

  it("refuses another user's run and workflow as if they did not exist, and sends none of their events", async () => {
    const wf = await pushWorkflow(
      s,
      s.admin.token,
      `name: ws2\nsteps:\n  - { id: a, uses: delay, with: { duration: 100ms } }\n`,
    );
    const other = await s.createUser('operator');
    const c = connect(wsUrl);
    await c.open();
    c.send({ type: 'subscribe', channel: 'dashboard' });
    expect((await c.next((m) => m.type === 'error')).code).toBe('UNAUTHENTICATED');
    c.send({ type: 'auth', token: other.token });
    await c.next((m) => m.type === 'ready');
    const runId = await startRun(s, s.admin.token, wf);
    c.send({ type: 'subscribe', channel: `run:${runId}`, after: 0 });
    c.send({ type: 'subscribe', channel: `workflow:${wf}` });
    c.send({ type: 'subscribe', channel: 'user:someone-else' });
    c.send({ type: 'subscribe', channel: 'dashboard' });
    await c.next((m) => m.type === 'subscribed' && m.channel === 'dashboard');
    const errors = c.got.filter((m) => m.type === 'error' && m.channel);
    expect(errors.map((e) => [e.channel, e.code])).toEqual([
      [`run:${runId}`, 'NOT_FOUND'],
      [`workflow:${wf}`, 'NOT_FOUND'],
      ['user:someone-else', 'NOT_FOUND'],
    ]);
    await waitForRun(s, s.admin.token, runId);
    await new Promise((r) => setTimeout(r, 100));
    expect(c.got.filter((m) => m.type === 'event')).toEqual([]);
    c.ws.close();
  });

  it('closes a socket opened from a foreign origin', async () => {
    const c = connect(`${wsUrl}?token=${s.admin.token}`, { origin: 'https://evil.example' });
    await c.open().catch(() => undefined);
    expect((await c.closed).code).toBe(4403);
    const same = connect(`${wsUrl}?token=${s.admin.token}`, { origin: s.url });
    await same.open();
    await same.next((m) => m.type === 'ready');
    same.ws.close();
  });
});
