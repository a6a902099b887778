import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { pushWorkflow, startRun, waitForStep } from '../helpers/runs.js';
import { startTestServer } from '../helpers/test-server.js';

/**
 * Stopping the server (SIGTERM runs the same stop) ends the live streams a client holds open, instead of waiting
 * for them: a run's SSE stream lasts as long as the run, which may wait days for an approval.
 */
describe('shutdown with open event streams', () => {
  it('ends SSE and WebSocket streams and stops promptly', async () => {
    const s = await startTestServer();
    const token = s.admin.token;
    const wf = await pushWorkflow(
      s,
      token,
      'name: long\nsteps:\n  - { id: wait, uses: delay, with: { duration: 60s } }\n',
    );
    const runId = await startRun(s, token, wf);
    await waitForStep(s, token, runId, 'wait', 'running');

    const sse = await fetch(`${s.url}/api/v1/runs/${runId}/events`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    });
    expect(sse.status).toBe(200);
    const body = sse.text();

    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/ws?token=${token}`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ type: 'subscribe', channel: `run:${runId}` }));
    const wsClosed = new Promise<void>((resolve) => ws.once('close', () => resolve()));

    const t0 = Date.now();
    await s.close();
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(await body).toContain('event: run.started');
    await wsClosed;
  }, 30_000);
});
