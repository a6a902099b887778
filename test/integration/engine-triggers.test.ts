import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TriggerService } from '../../src/workflows/trigger.service.js';
import { pushWorkflow, waitForRun } from '../helpers/runs.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe('triggers: schedules and webhooks', () => {
  let s: TestServer;
  let wf: string;
  beforeAll(async () => {
    s = await startTestServer();
    wf = await pushWorkflow(
      s,
      s.admin.token,
      `name: hooked\ninputs: { payload: { type: object }, tag: { type: string, default: none } }\nsteps:\n  - { id: a, uses: transform, with: { got: "\${{ inputs.payload }}", tag: "\${{ inputs.tag }}" } }\n`,
    );
  });
  afterAll(async () => s?.close());

  it('fires a due schedule exactly once even when two workers tick at the same moment', async () => {
    const t = await s.request('POST', `/api/v1/workflows/${wf}/triggers`, {
      token: s.admin.token,
      body: { kind: 'schedule', cron: '0 0 1 1 *', inputs: { payload: {}, tag: 'cron' } },
    });
    expect(t.status, t.text).toBe(201);
    expect(t.body.next_run_at).toMatch(/-01-01T00:00:00/);
    const bad = await s.request('POST', `/api/v1/workflows/${wf}/triggers`, {
      token: s.admin.token,
      body: { kind: 'schedule', cron: 'every tuesday' },
    });
    expect(bad.status).toBe(400);
    const { db } = s.app.database;
    const due = new Date(Date.now() - 1000).toISOString();
    // Two workers on the same database, ticking together.
    const mk = () => new TriggerService(db, s.app.services.workflows, s.app.services.runs, s.app.secrets, s.app.logger);
    const [a, b] = [mk(), mk()];
    await db.updateTable('workflow_triggers').set({ next_run_at: due }).where('id', '=', t.body.id).execute();
    const fired = await Promise.all([a.tick(), b.tick()]);
    const runs = await s.request('GET', '/api/v1/runs', { token: s.admin.token });
    const cron = runs.body.items.filter((r: any) => r.trigger === 'schedule');
    // The server's own scheduler may have won the race too; still one run.
    expect(cron).toHaveLength(1);
    expect(fired[0]! + fired[1]!).toBeLessThanOrEqual(1);
    const run = await waitForRun(s, s.admin.token, cron[0].id);
    expect(run.steps[0].output.tag).toBe('cron');
    const after = await s.request('GET', `/api/v1/workflows/${wf}/triggers`, { token: s.admin.token });
    expect(Date.parse(after.body.items[0].next_run_at)).toBeGreaterThan(Date.now());
  });

  it('starts a run from a signed webhook and refuses a bad signature', async () => {
    const secret = 'a-webhook-secret-of-some-length';
    const t = await s.request('POST', `/api/v1/workflows/${wf}/triggers`, {
      token: s.admin.token,
      body: { kind: 'webhook', secret, inputs: { tag: 'hook' } },
    });
    expect(t.status, t.text).toBe(201);
    expect(t.text).not.toContain(secret);
    const body = JSON.stringify({ action: 'opened', n: 1 });
    const sign = (b: string) => `sha256=${createHmac('sha256', secret).update(b).digest('hex')}`;
    const post = (headers: Record<string, string>, b = body) =>
      fetch(`${s.url}${t.body.hook_path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: b,
      });
    expect((await post({})).status).toBe(401);
    expect((await post({ 'x-clarion-signature': sign(`${body} `) })).status).toBe(401);
    const ok = await post({ 'x-clarion-signature': sign(body) });
    expect(ok.status).toBe(202);
    const { run_id } = (await ok.json()) as { run_id: string };
    const run = await waitForRun(s, s.admin.token, run_id);
    expect(run.trigger).toBe('webhook');
    expect(run.steps[0].output).toEqual({ got: { action: 'opened', n: 1 }, tag: 'hook' });
    expect((await fetch(`${s.url}/hooks/not-a-real-token-at-all`, { method: 'POST' })).status).toBe(404);
  });
});
