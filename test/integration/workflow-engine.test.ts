import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FatalTaskError } from '../../src/engine/task-errors.js';
import type { TaskContext } from '../../src/tasks/task.js';
import { testDialects } from '../helpers/databases.js';
import { pushWorkflow, startRun, waitForRun, waitForStep } from '../helpers/runs.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** What the probe tasks saw, per idempotency key. */
interface Call {
  key: string;
  attempt: number;
  start: number;
  end?: number;
  aborted?: boolean;
}

describe.each(testDialects())('workflow engine (%s)', (dialect) => {
  let s: TestServer;
  let token: string;
  const calls: Call[] = [];
  const failUntil = new Map<string, number>();

  beforeAll(async () => {
    s = await startTestServer({ dialect, config: { max_workflow_depth: 2, max_foreach_items: 20 } });
    token = s.admin.token;
    // Probe tasks, registered the way a plugin would register its own.
    s.app.tasks.register({
      type: 'test.probe',
      description: 'sleeps, records its calls, fails the first N attempts of a key',
      targetTypes: [],
      inputSchema: Type.Object({
        ms: Type.Optional(Type.Number()),
        fail: Type.Optional(Type.Integer()),
        fatal: Type.Optional(Type.Boolean()),
        tag: Type.Optional(Type.String()),
      }),
      run: async (input: { ms?: number; fail?: number; fatal?: boolean; tag?: string }, ctx: TaskContext) => {
        const call: Call = { key: ctx.idempotencyKey, attempt: ctx.attempt, start: Date.now() };
        calls.push(call);
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, input.ms ?? 0);
          ctx.signal.addEventListener('abort', () => {
            call.aborted = true;
            clearTimeout(t);
            reject(new Error('aborted'));
          });
        });
        call.end = Date.now();
        const failKey = `${ctx.runId}:${ctx.stepId}`;
        const failures = failUntil.get(failKey) ?? 0;
        if (input.fatal && failures < (input.fail ?? 1)) {
          failUntil.set(failKey, failures + 1);
          throw new FatalTaskError('fatal on purpose', 'PROBE_FATAL');
        }
        if (input.fail !== undefined && ctx.attempt <= input.fail) throw new Error(`failing attempt ${ctx.attempt}`);
        return { tag: input.tag ?? null, attempt: ctx.attempt };
      },
    });
  });
  afterAll(async () => s?.close());

  const callsOf = (runId: string, step: string) => calls.filter((c) => c.key.startsWith(`${runId}:${step}:`));

  it('runs independent steps in parallel, dependants after, and computes outputs', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: order
inputs:
  n: { type: integer, default: 1 }
steps:
  - { id: a, uses: test.probe, with: { ms: 250, tag: a } }
  - { id: b, uses: test.probe, with: { ms: 250, tag: b } }
  - id: c
    needs: [a, b]
    uses: transform
    with: { sum: "\${{ inputs.n + 1 }}", tags: "\${{ [steps.a.output.tag, steps.b.output.tag] }}" }
outputs:
  sum: \${{ steps.c.output.sum }}
  label: "n=\${{ inputs.n }}"
`,
    );
    const runId = await startRun(s, token, wf, { n: 41 });
    const run = await waitForRun(s, token, runId);
    expect(run.status).toBe('completed');
    expect(run.outputs).toEqual({ sum: 42, label: 'n=41' });
    const [a] = callsOf(runId, 'a');
    const [b] = callsOf(runId, 'b');
    // Real parallelism: each started before the other ended.
    expect(a!.start).toBeLessThan(b!.end!);
    expect(b!.start).toBeLessThan(a!.end!);
    const c = run.steps.find((x: any) => x.id === 'c');
    expect(Date.parse(c.started_at)).toBeGreaterThanOrEqual(Math.max(a!.end!, b!.end!) - 5);
    expect(c.output.tags).toEqual(['a', 'b']);
  });

  it('skips a step whose condition is false, and its dependants', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: cond
inputs: { go: { type: boolean } }
steps:
  - { id: a, uses: transform, with: { v: 1 } }
  - { id: b, needs: [a], if: "inputs.go && steps.a.output.v == 1", uses: transform, with: { v: 2 } }
  - { id: c, needs: [b], uses: transform, with: { v: 3 } }
`,
    );
    const off = await waitForRun(s, token, await startRun(s, token, wf, { go: false }));
    expect(off.status).toBe('completed');
    expect(Object.fromEntries(off.steps.map((x: any) => [x.id, x.status]))).toEqual({
      a: 'completed',
      b: 'skipped',
      c: 'skipped',
    });
    const on = await waitForRun(s, token, await startRun(s, token, wf, { go: true }));
    expect(on.steps.map((x: any) => x.status)).toEqual(['completed', 'completed', 'completed']);
  });

  it('fans out foreach items under the concurrency cap and keeps their order', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: fan
steps:
  - id: each
    foreach: \${{ [1, 2, 3, 4, 5, 6] }}
    concurrency: 2
    uses: test.probe
    with: { ms: 60, tag: "item-\${{ item }}-\${{ index }}" }
  - { id: sum, needs: [each], uses: transform, with: { tags: "\${{ steps.each.output.map(o, o.tag) }}" } }
`,
    );
    const runId = await startRun(s, token, wf);
    const run = await waitForRun(s, token, runId);
    expect(run.status).toBe('completed');
    expect(run.steps.find((x: any) => x.id === 'sum').output.tags).toEqual([
      'item-1-0',
      'item-2-1',
      'item-3-2',
      'item-4-3',
      'item-5-4',
      'item-6-5',
    ]);
    const items = calls.filter((c) => c.key.startsWith(`${runId}:each#`));
    expect(items).toHaveLength(6);
    // Most items sleeping at one moment, by a sweep over their start and end times.
    const edges = items.flatMap((c) => [
      [c.start, 1],
      [c.end!, -1],
    ]);
    edges.sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
    let now = 0;
    let peak = 0;
    for (const [, d] of edges) peak = Math.max(peak, (now += d!));
    expect(peak).toBe(2);
  });

  it('refuses a foreach larger than the limit', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: toobig
inputs: { list: { type: array } }
steps:
  - { id: each, foreach: "\${{ inputs.list }}", uses: transform, with: { v: "\${{ item }}" } }
`,
    );
    const run = await waitForRun(
      s,
      token,
      await startRun(s, token, wf, { list: Array.from({ length: 21 }, (_, i) => i) }),
    );
    expect(run.status).toBe('failed');
    expect(run.steps[0].error.code).toBe('FOREACH_TOO_LARGE');
  });

  it('retries with backoff under the same step, a new idempotency key per attempt', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: retry
steps:
  - id: flaky
    uses: test.probe
    with: { fail: 2 }
    retry: { max_attempts: 3, backoff: exponential, delay: 80ms, jitter: false }
`,
    );
    const runId = await startRun(s, token, wf);
    const run = await waitForRun(s, token, runId);
    expect(run.status).toBe('completed');
    const attempts = run.steps[0].attempts;
    expect(attempts.map((a: any) => [a.attempt, a.status, a.idempotency_key])).toEqual([
      [1, 'failed', `${runId}:flaky:1`],
      [2, 'failed', `${runId}:flaky:2`],
      [3, 'completed', `${runId}:flaky:3`],
    ]);
    const c = callsOf(runId, 'flaky');
    // Exponential: 80ms then 160ms between attempts.
    expect(c[1]!.start - c[0]!.end!).toBeGreaterThanOrEqual(75);
    expect(c[2]!.start - c[1]!.end!).toBeGreaterThanOrEqual(155);
  });

  it('does not retry a fatal error, and stops at max_attempts', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: fatal
steps:
  - { id: f, uses: test.probe, with: { fatal: true, fail: 5 }, retry: { max_attempts: 3, delay: 10ms } }
`,
    );
    const run = await waitForRun(s, token, await startRun(s, token, wf));
    expect(run.status).toBe('failed');
    expect(run.steps[0].attempts).toHaveLength(1);
    expect(run.error).toMatchObject({ code: 'PROBE_FATAL', step: 'f' });
    const wf2 = await pushWorkflow(
      s,
      token,
      `name: exhaust
steps:
  - { id: f, uses: test.probe, with: { fail: 9 }, retry: { max_attempts: 2, delay: 10ms } }
`,
    );
    const run2 = await waitForRun(s, token, await startRun(s, token, wf2));
    expect(run2.status).toBe('failed');
    expect(run2.steps[0].attempts).toHaveLength(2);
  });

  it('times a step out and aborts its task', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: slow
steps:
  - { id: slow, uses: test.probe, with: { ms: 10000 }, timeout: 150ms }
`,
    );
    const runId = await startRun(s, token, wf);
    const run = await waitForRun(s, token, runId);
    expect(run.status).toBe('failed');
    expect(run.steps[0].error.code).toBe('STEP_TIMEOUT');
    expect(callsOf(runId, 'slow')[0]!.aborted).toBe(true);
  });

  it('cancels a running run and aborts its steps', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: cancel-me
steps:
  - { id: long, uses: test.probe, with: { ms: 20000 } }
  - { id: after, needs: [long], uses: transform, with: {} }
`,
    );
    const runId = await startRun(s, token, wf);
    await waitForStep(s, token, runId, 'long', 'running');
    expect((await s.request('POST', `/api/v1/runs/${runId}/cancel`, { token })).status).toBe(200);
    const run = await waitForRun(s, token, runId);
    expect(run.status).toBe('cancelled');
    expect(run.steps.map((x: any) => x.status)).toEqual(['cancelled', 'cancelled']);
    expect(callsOf(runId, 'long')[0]!.aborted).toBe(true);
    expect((await s.request('POST', `/api/v1/runs/${runId}/cancel`, { token })).body.error.code).toBe('RUN_NOT_ACTIVE');
  });

  it('continue_on_error lets dependants run; on_failure steps run when the run fails', async () => {
    const soft = await pushWorkflow(
      s,
      token,
      `name: soft
steps:
  - { id: bad, uses: test.probe, with: { fail: 9 }, continue_on_error: true }
  - { id: next, needs: [bad], uses: transform, with: { saw: "\${{ steps.bad.status }}" } }
`,
    );
    const r1 = await waitForRun(s, token, await startRun(s, token, soft));
    expect(r1.status).toBe('completed');
    expect(r1.steps[1].output).toEqual({ saw: 'failed' });

    const hard = await pushWorkflow(
      s,
      token,
      `name: hard
steps:
  - { id: bad, uses: test.probe, with: { fail: 9 } }
  - { id: never, needs: [bad], uses: transform, with: {} }
on_failure:
  - { id: notify, uses: transform, with: { failed_step: "\${{ error.step }}", code: "\${{ error.code }}" } }
`,
    );
    const r2 = await waitForRun(s, token, await startRun(s, token, hard));
    expect(r2.status).toBe('failed');
    const byId = Object.fromEntries(r2.steps.map((x: any) => [x.id, x]));
    expect(byId.never.status).toBe('skipped');
    expect(byId.notify.status).toBe('completed');
    expect(byId.notify.output).toEqual({ failed_step: 'bad', code: 'TASK_FAILED' });
  });

  it('waits for an approval, and fails on a rejection', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: approve
steps:
  - { id: gate, wait: { approval: { message: "Ship it?" } } }
  - { id: ship, needs: [gate], uses: transform, with: { by: "\${{ steps.gate.output.by }}" } }
`,
    );
    const r1 = await startRun(s, token, wf);
    const waiting = await waitForStep(s, token, r1, 'gate', 'waiting');
    expect(waiting.steps[0].waiting_for).toMatchObject({ kind: 'approval', message: 'Ship it?' });
    expect(
      (await s.request('POST', `/api/v1/runs/${r1}/steps/ship/approve`, { token, body: {} })).body.error.code,
    ).toBe('STEP_NOT_WAITING');
    expect((await s.request('POST', `/api/v1/runs/${r1}/steps/gate/approve`, { token, body: {} })).status).toBe(200);
    const done = await waitForRun(s, token, r1);
    expect(done.status).toBe('completed');
    expect(done.steps[1].output).toEqual({ by: s.admin.username });

    const r2 = await startRun(s, token, wf);
    await waitForStep(s, token, r2, 'gate', 'waiting');
    await s.request('POST', `/api/v1/runs/${r2}/steps/gate/reject`, { token, body: { comment: 'no' } });
    const rejected = await waitForRun(s, token, r2);
    expect(rejected.status).toBe('failed');
    expect(rejected.steps[0].error.code).toBe('APPROVAL_REJECTED');
  });

  it('calls a sub-workflow and returns its outputs; nesting is limited', async () => {
    await pushWorkflow(
      s,
      token,
      `name: child
inputs: { x: { type: integer } }
steps:
  - { id: double, uses: transform, with: { v: "\${{ inputs.x * 2 }}" } }
outputs: { doubled: "\${{ steps.double.output.v }}" }
`,
    );
    const parent = await pushWorkflow(
      s,
      token,
      `name: parent
steps:
  - { id: call, uses: workflow.call, with: { workflow: child, inputs: { x: 21 } } }
outputs: { answer: "\${{ steps.call.output.outputs.doubled }}" }
`,
    );
    const run = await waitForRun(s, token, await startRun(s, token, parent));
    expect(run.status).toBe('completed');
    expect(run.outputs).toEqual({ answer: 42 });

    const loop = await pushWorkflow(
      s,
      token,
      `name: recurse
steps:
  - { id: again, uses: workflow.call, with: { workflow: recurse } }
`,
    );
    const deep = await waitForRun(s, token, await startRun(s, token, loop));
    expect(deep.status).toBe('failed');
    // The innermost call is refused; the failure travels up through every parent.
    expect(JSON.stringify(deep.error)).toContain('WORKFLOW_DEPTH_EXCEEDED');
  });

  it('returns the same run for the same Idempotency-Key, and pins the version a run started with', async () => {
    const src = (v: number) =>
      `name: pinned\nsteps:\n  - { id: a, uses: transform, with: { v: ${v} } }\noutputs: { v: "\${{ steps.a.output.v }}" }\n`;
    const wf = await pushWorkflow(s, token, src(1));
    const a = await startRun(s, token, wf, {}, { 'idempotency-key': 'k-1' });
    const b = await startRun(s, token, wf, {}, { 'idempotency-key': 'k-1' });
    expect(b).toBe(a);
    const upd = await s.request('PUT', `/api/v1/workflows/${wf}`, { token, body: { source: src(2) } });
    expect(upd.body.version).toBe(2);
    const first = await waitForRun(s, token, a);
    expect(first.workflow_version).toBe(1);
    expect(first.outputs).toEqual({ v: 1 });
    const second = await waitForRun(s, token, await startRun(s, token, wf));
    expect(second.outputs).toEqual({ v: 2 });
    const versions = await s.request('GET', `/api/v1/workflows/${wf}/versions`, { token });
    expect(versions.body.items.map((v: any) => v.version)).toEqual([2, 1]);
    expect((await s.request('GET', `/api/v1/workflows/${wf}/versions/1`, { token })).body.source).toBe(src(1));
  });

  it('retries a failed run from the failed step without re-running completed ones', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: resume
steps:
  - { id: first, uses: test.probe, with: { tag: one } }
  - { id: second, needs: [first], uses: test.probe, with: { fatal: true, fail: 1 } }
`,
    );
    const runId = await startRun(s, token, wf);
    expect((await waitForRun(s, token, runId)).status).toBe('failed');
    expect((await s.request('POST', `/api/v1/runs/${runId}/retry`, { token })).status).toBe(200);
    const run = await waitForRun(s, token, runId);
    expect(run.status).toBe('completed');
    expect(callsOf(runId, 'first')).toHaveLength(1);
    expect(run.steps[1].attempts.map((a: any) => a.idempotency_key)).toEqual([
      `${runId}:second:1`,
      `${runId}:second:2`,
    ]);
  });

  it('keeps data as data: a step output containing ${{ }} is never evaluated', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: data
inputs: { s: { type: string } }
steps:
  - { id: a, uses: transform, with: { v: "\${{ inputs.s }}", w: "pre \${{ inputs.s }}" } }
  - { id: b, needs: [a], uses: transform, with: { v: "\${{ steps.a.output.v }}", w: "\${{ steps.a.output.w }}" } }
outputs: { v: "\${{ steps.b.output.v }}" }
`,
    );
    const evil = '${{ 1 + 1 }}';
    const run = await waitForRun(s, token, await startRun(s, token, wf, { s: evil }));
    expect(run.steps[1].output).toEqual({ v: evil, w: `pre ${evil}` });
    expect(run.outputs).toEqual({ v: evil });
  });

  it('rejects bad definitions with precise issues', async () => {
    const res = await s.request('POST', '/api/v1/workflows', {
      token,
      body: { source: 'name: bad\nsteps:\n  - id: a\n    uses: no.such.task\n' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('WORKFLOW_INVALID');
    expect(res.body.error.details.issues[0]).toMatchObject({ path: '/steps/0/uses', line: 4, step: 'a' });
    const v = await s.request('POST', '/api/v1/workflows/validate', {
      token,
      body: { source: 'name: bad\nsteps:\n  - { id: a, uses: transform, with: { v: "${{ constructor.name }}" } }\n' },
    });
    expect(v.body.valid).toBe(false);
    expect(v.body.issues[0].message).toContain('unknown name "constructor"');
    const schema = await s.request('GET', '/api/v1/workflows/schema', { token });
    expect(schema.body.properties.steps.type).toBe('array');
    const badInput = await s.request('POST', '/api/v1/workflows/order/runs', { token, body: { inputs: { n: 'x' } } });
    expect(badInput.status).toBe(400);
    expect(badInput.body.error.details.field).toBe('inputs.n');
  });

  it("hides another user's workflows and runs (404 everywhere), and checks permissions", async () => {
    const other = await s.createUser('operator');
    const viewer = await s.createUser('viewer');
    const wf = await pushWorkflow(s, token, `name: mine\nsteps:\n  - { id: a, uses: transform, with: {} }\n`);
    const runId = await startRun(s, token, wf);
    await waitForRun(s, token, runId);
    for (const [m, u] of [
      ['GET', `/api/v1/runs/${runId}`],
      ['GET', `/api/v1/runs/${runId}/events`],
      ['POST', `/api/v1/runs/${runId}/cancel`],
      ['POST', `/api/v1/runs/${runId}/retry`],
      ['POST', `/api/v1/runs/${runId}/steps/a/approve`],
      ['GET', `/api/v1/workflows/${wf}`],
      ['POST', `/api/v1/workflows/${wf}/runs`],
    ] as const) {
      const r = await s.request(m, u, { token: other.token, ...(m === 'POST' ? { body: {} } : {}) });
      expect(r.status, `${m} ${u}`).toBe(404);
    }
    const sse = await fetch(`${s.url}/api/v1/runs/${runId}/events`, {
      headers: { authorization: `Bearer ${other.token}`, accept: 'text/event-stream' },
    });
    expect(sse.status).toBe(404);
    expect((await s.request('GET', '/api/v1/runs', { token: other.token })).body.items).toEqual([]);
    const created = await s.request('POST', '/api/v1/workflows', {
      token: viewer.token,
      body: { source: 'name: v\nsteps:\n  - { id: a, uses: transform }\n' },
    });
    expect(created.status).toBe(403);
  });

  it('streams events over SSE from Last-Event-ID to the end of the run', async () => {
    const wf = await pushWorkflow(
      s,
      token,
      `name: sse\nsteps:\n  - { id: a, uses: test.probe, with: { ms: 100 } }\n  - { id: b, needs: [a], uses: transform, with: {} }\n`,
    );
    const runId = await startRun(s, token, wf);
    const res = await fetch(`${s.url}/api/v1/runs/${runId}/events`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'last-event-id': '1' },
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    // The stream carries the API's headers like any other answer.
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const text = await res.text(); // ends after run.completed
    const seqs = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(seqs[0]).toBe(2);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 2));
    expect(text).toContain('event: run.completed');
  });
});
