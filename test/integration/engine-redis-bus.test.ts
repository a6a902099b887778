import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.module.js';
import { testDialects } from '../helpers/databases.js';
import { pushWorkflow, startRun, startSecondEngine, waitForRun } from '../helpers/runs.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const redisUrl = process.env.CLARION_TEST_REDIS_URL;
if (!redisUrl && process.env.CLARION_TEST_REQUIRE_SERVICES === '1') {
  throw new Error('CLARION_TEST_REQUIRE_SERVICES=1 but CLARION_TEST_REDIS_URL is not set');
}

/**
 * An API node (no executor) and a worker (its own engine: executor and event bus) share the database and Redis,
 * as `clarion serve` with `engine_enabled: false` and `clarion worker` do. A run started through the API is
 * executed by the worker, and its live events reach the API node's SSE stream through Redis.
 */
describe.skipIf(!redisUrl).each(testDialects())('API node and worker over Redis (%s)', (dialect) => {
  let api: TestServer;
  let worker: Engine;

  beforeAll(async () => {
    api = await startTestServer({ dialect, config: { engine_enabled: false, redis_url: redisUrl } });
    worker = startSecondEngine(api);
  });
  afterAll(async () => {
    await worker?.executor.stop();
    await worker?.bus.close();
    await api?.close();
  });

  it('streams a run executed by the worker live on the API node', async () => {
    const token = api.admin.token;
    const wf = await pushWorkflow(
      api,
      token,
      'name: two-nodes\nsteps:\n  - { id: wait, uses: delay, with: { duration: 700ms } }\n  - { id: after, uses: transform, needs: [wait], with: { value: done } }\n',
    );
    const runId = await startRun(api, token, wf);
    const res = await fetch(`${api.url}/api/v1/runs/${runId}/events`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      signal: AbortSignal.timeout(15_000),
    });
    expect(res.status).toBe(200);
    // The stream ends after the run's final event; without events from the worker it would stay open.
    const text = await res.text();
    const events = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    const seqs = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(events).toContain('step.completed');
    expect(events.at(-1)).toBe('run.completed');
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  }, 30_000);
});

describe.each(testDialects())('an executor started again after a stop on %s', (dialect) => {
  it('claims the runs queued while it was stopped', async () => {
    const s = await startTestServer({ dialect, config: { engine_enabled: false } });
    const worker = startSecondEngine(s);
    try {
      await worker.executor.stop();
      const wf = await pushWorkflow(
        s,
        s.admin.token,
        'name: again\nsteps:\n  - { id: wait, uses: delay, with: { duration: 10ms } }\n',
      );
      const run = await startRun(s, s.admin.token, wf);
      await new Promise((r) => setTimeout(r, 300));
      expect((await s.request('GET', `/api/v1/runs/${run}`, { token: s.admin.token })).body.status).toBe('queued');
      worker.executor.start();
      expect((await waitForRun(s, s.admin.token, run)).status).toBe('completed');
    } finally {
      await worker.executor.stop();
      await s.close();
    }
  });
});
