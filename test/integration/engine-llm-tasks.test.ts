import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';
import { pushWorkflow, startRun, waitForRun } from '../helpers/runs.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe('llm.chat and agent tasks (against a fake OpenAI-compatible upstream)', () => {
  let s: TestServer;
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm({ models: ['gpt-4o-mini'] });
    s = await startTestServer({ config: { llm_autodetect: false } });
    const p = await s.request('POST', '/api/v1/providers', {
      token: s.admin.token,
      body: { name: 'fake', kind: 'openai', base_url: `${fake.url}/v1`, models: ['gpt-4o-mini'] },
    });
    expect(p.status, p.text).toBe(201);
    const a = await s.request('POST', '/api/v1/agents', {
      token: s.admin.token,
      body: { name: 'helper', model: 'gpt-4o-mini', system_prompt: 'Be brief.', capabilities: ['system:transform'] },
    });
    expect(a.status, a.text).toBe(201);
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  it("llm.chat answers with the agent's model and system prompt", async () => {
    const wf = await pushWorkflow(
      s,
      s.admin.token,
      `name: ask\nsteps:\n  - { id: q, uses: llm.chat, agent: helper, with: { prompt: "hello \${{ run.workflow }}" } }\noutputs: { text: "\${{ steps.q.output.text }}" }\n`,
    );
    fake.reset();
    const runId = await startRun(s, s.admin.token, wf);
    const run = await waitForRun(s, s.admin.token, runId);
    expect(run.status, JSON.stringify(run.steps)).toBe('completed');
    expect(run.outputs.text).toBe('echo: hello ask');
    const call = fake.callsTo('/v1/chat/completions')[0]!;
    expect(call.body.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
    // The step attempt's idempotency key reaches the provider, so a step run again after a crash can be deduplicated.
    expect(call.headers['idempotency-key']).toMatch(new RegExp(`^${runId}:q:\\d+$`));
  });

  it('agent calls the tools its capabilities grant, then answers', async () => {
    const wf = await pushWorkflow(
      s,
      s.admin.token,
      `name: work\nsteps:\n  - { id: w, uses: agent, agent: helper, with: { task: "compute", max_iterations: 3 } }\n`,
    );
    fake.reset();
    fake.behave(
      {
        toolCalls: [
          { name: 'transform', arguments: '{"sum":3}' },
          { name: 'shell__exec', arguments: '{"argv":["ls"]}' },
        ],
      },
      { text: 'all done' },
    );
    const runId = await startRun(s, s.admin.token, wf);
    const run = await waitForRun(s, s.admin.token, runId);
    expect(run.status, JSON.stringify(run.steps)).toBe('completed');
    expect(run.steps[0].output).toMatchObject({
      text: 'all done',
      iterations: 2,
      tool_calls: [
        { tool: 'transform', ok: true },
        { tool: 'shell__exec', ok: false },
      ],
    });
    // Each model call of the loop asks something new: each has a key of its own, derived from the step attempt's.
    const keys = fake.callsTo('/v1/chat/completions').map((c) => c.headers['idempotency-key']);
    expect(keys).toEqual([
      expect.stringMatching(new RegExp(`^${runId}:w:\\d+:llm1$`)),
      expect.stringMatching(new RegExp(`^${runId}:w:\\d+:llm2$`)),
    ]);
    const second = fake.callsTo('/v1/chat/completions')[1]!.body;
    expect(second.tools.map((t: any) => t.function.name)).toEqual(['transform']);
    const toolMsgs = second.messages.filter((m: any) => m.role === 'tool');
    expect(JSON.parse(toolMsgs[0].content)).toEqual({ sum: 3 });
    expect(toolMsgs[1].content).toContain('no tool named shell__exec');
  });
});
