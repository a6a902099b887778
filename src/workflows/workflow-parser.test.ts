import { describe, expect, it } from 'vitest';
import { Expressions } from './expression.js';
import { parseWorkflowText } from './workflow-parser.js';

const opts = {
  hasTask: (t: string) => ['transform', 'delay', 'http.request'].includes(t),
  expressions: new Expressions(),
  maxSteps: 100,
};
const issuesOf = (text: string) => {
  const r = parseWorkflowText(text, opts);
  if (r.ok) throw new Error('expected issues');
  return r.issues;
};

describe('parseWorkflowText', () => {
  it('accepts a valid definition', () => {
    const r = parseWorkflowText(
      `name: ok
inputs:
  n: { type: integer, default: 2 }
steps:
  - id: a
    uses: transform
    with: { value: "\${{ inputs.n * 2 }}" }
  - id: b
    needs: [a]
    if: steps.a.output.value > 1
    uses: transform
    with: { value: "\${{ steps.a.output.value }}" }
outputs:
  v: \${{ steps.b.output.value }}
`,
      opts,
    );
    expect(r.ok).toBe(true);
  });

  it('places a YAML syntax error at its line and column', () => {
    const [i] = issuesOf('name: x\nsteps:\n  - id: a\n    uses: [transform\n');
    expect(i!.line).toBeGreaterThanOrEqual(4);
    expect(i!.column).toBeGreaterThan(0);
  });

  it('names the step, line and column of an unknown task type', () => {
    const issues = issuesOf('name: x\nsteps:\n  - id: a\n    uses: transform\n  - id: b\n    uses: nope.task\n');
    expect(issues).toEqual([
      expect.objectContaining({
        path: '/steps/1/uses',
        step: 'b',
        line: 6,
        column: 11,
        message: expect.stringContaining('nope.task'),
      }),
    ]);
  });

  it('reports unknown needs, cycles, unknown fields and bad expressions', () => {
    expect(issuesOf('name: x\nsteps:\n  - id: a\n    uses: transform\n    needs: [zz]\n')[0]).toMatchObject({
      path: '/steps/0/needs/0',
      step: 'a',
      line: 5,
    });
    expect(
      issuesOf(
        'name: x\nsteps:\n  - {id: a, uses: transform, needs: [b]}\n  - {id: b, uses: transform, needs: [a]}\n',
      )[0]!.message,
    ).toContain('cycle: a -> b -> a');
    expect(issuesOf('name: x\nsteps:\n  - id: a\n    uses: transform\n    bogus: 1\n')[0]).toMatchObject({
      path: '/steps/0/bogus',
      line: 5,
    });
    const bad = issuesOf('name: x\nsteps:\n  - id: a\n    uses: transform\n    with: { v: "${{ 1 + }}" }\n');
    expect(bad[0]).toMatchObject({ path: '/steps/0/with/v', step: 'a', line: 5 });
    expect(bad[0]!.message).toContain('bad expression');
  });

  it('refuses references to steps that are not upstream and unknown names', () => {
    const i = issuesOf(
      'name: x\nsteps:\n  - {id: a, uses: transform}\n  - {id: b, uses: transform, with: {v: "${{ steps.a.output }}"}}\n',
    );
    expect(i[0]!.message).toContain('not in "needs"');
    expect(
      issuesOf('name: x\nsteps:\n  - {id: a, uses: transform, with: {v: "${{ steps.q.output }}"}}\n')[0]!.message,
    ).toContain('unknown step "q"');
    expect(
      issuesOf('name: x\nsteps:\n  - {id: a, uses: transform, with: {v: "${{ process.env }}"}}\n')[0]!.message,
    ).toContain('unknown name "process"');
    expect(issuesOf('name: x\nsteps:\n  - {id: a, uses: transform, with: {v: "${{ item }}"}}\n')[0]!.message).toContain(
      'only defined in a foreach',
    );
  });
});
