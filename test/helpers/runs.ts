import { createEngine, type Engine } from '../../src/engine/engine.module.js';
import type { TestServer } from './test-server.js';

/** Creates a workflow from YAML as `token`'s user; returns its id. */
export async function pushWorkflow(s: TestServer, token: string, source: string): Promise<string> {
  const res = await s.request('POST', '/api/v1/workflows', { token, body: { source } });
  if (res.status !== 201) throw new Error(`create workflow: ${res.status} ${res.text}`);
  return res.body.id as string;
}

export async function startRun(
  s: TestServer,
  token: string,
  workflow: string,
  inputs: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await s.request('POST', `/api/v1/workflows/${workflow}/runs`, { token, body: { inputs }, headers });
  if (res.status !== 202) throw new Error(`start run: ${res.status} ${res.text}`);
  return res.body.run_id as string;
}

/** Polls the run until it reaches one of `statuses` (default: finished). */
export async function waitForRun(
  s: TestServer,
  token: string,
  runId: string,
  statuses: string[] = ['completed', 'failed', 'cancelled'],
  timeoutMs = 20_000,
): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await s.request('GET', `/api/v1/runs/${runId}`, { token });
    if (res.status !== 200) throw new Error(`get run: ${res.status} ${res.text}`);
    if (statuses.includes(res.body.status)) return res.body;
    if (Date.now() > until) throw new Error(`run ${runId} still ${res.body.status}: ${JSON.stringify(res.body.steps)}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** Polls until a step of the run has `status`. */
export async function waitForStep(
  s: TestServer,
  token: string,
  runId: string,
  step: string,
  status: string,
): Promise<any> {
  const until = Date.now() + 20_000;
  for (;;) {
    const res = await s.request('GET', `/api/v1/runs/${runId}`, { token });
    const st = (res.body.steps as any[]).find((x) => x.key === step);
    if (st?.status === status) return res.body;
    if (Date.now() > until) throw new Error(`step ${step} still ${st?.status}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

/**
 * A second engine on the server's database and configuration, its executor started: another worker process as
 * the tests need one (its own event bus, built from the same config).
 */
export function startSecondEngine(s: TestServer): Engine {
  const engine = createEngine({
    config: s.app.config,
    database: s.app.database,
    logger: s.app.logger,
    tasks: s.app.tasks,
    secrets: s.app.secrets,
    taskServices: () => ({ ...s.app.services }),
  });
  engine.executor.start();
  return engine;
}
