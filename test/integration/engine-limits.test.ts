import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.module.js';
import { testDialects } from '../helpers/databases.js';
import { pushWorkflow, startRun, startSecondEngine, waitForRun } from '../helpers/runs.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/**
 * The per-user and per-workflow limits on runs active at once, with two workers (the server's executor and a
 * second one on the same database) claiming the same queue: a limit is counted and the run started in one
 * transaction, serialised per user and per workflow, so runs starting together cannot all pass the same count.
 */
describe.each(testDialects())('run limits across workers (%s)', (dialect) => {
  let s: TestServer;
  let second: Engine;

  beforeAll(async () => {
    s = await startTestServer({ dialect, config: { engine_max_runs_per_user: 2, engine_poll_interval: '50ms' } });
    second = startSecondEngine(s);
  });
  afterAll(async () => {
    await second?.executor.stop();
    await s?.close();
  });

  /** Starts the runs, samples how many of them are active every few ms until all finish; returns the peak. */
  async function peakActive(token: string, workflow: string, runs: number): Promise<number> {
    const ids: string[] = [];
    for (let i = 0; i < runs; i++) ids.push(await startRun(s, token, workflow));
    let peak = 0;
    let finished = false;
    const sampler = (async () => {
      while (!finished) {
        const rows = await s.app.database.db
          .selectFrom('runs')
          .select('id')
          .where('id', 'in', ids)
          .where('status', 'in', ['running', 'waiting'])
          .execute();
        peak = Math.max(peak, rows.length);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    for (const id of ids) expect((await waitForRun(s, token, id, undefined, 30_000)).status).toBe('completed');
    finished = true;
    await sampler;
    return peak;
  }

  it('never has more of one user’s runs active than engine_max_runs_per_user', async () => {
    const user = await s.createUser('operator');
    const wf = await pushWorkflow(
      s,
      user.token,
      'name: limited-user\nsteps:\n  - { id: wait, uses: delay, with: { duration: 300ms } }\n',
    );
    const peak = await peakActive(user.token, wf, 8);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(2);
  }, 60_000);

  it('never has more runs of a workflow active than its concurrency', async () => {
    const user = await s.createUser('operator');
    const wf = await pushWorkflow(
      s,
      user.token,
      'name: limited-workflow\nconcurrency: 1\nsteps:\n  - { id: wait, uses: delay, with: { duration: 200ms } }\n',
    );
    expect(await peakActive(user.token, wf, 5)).toBe(1);
  }, 60_000);
});
