import { describe, expect, it } from 'vitest';
import { findCycle, layoutSteps, lineOfPath, parseWorkflow } from '../../web/src/lib/workflow-graph.js';

const triage = `name: triage
inputs:
  issue: { type: string }
steps:
  - id: classify
    uses: llm.chat
    with: { prompt: "Classify: \${{ inputs.issue }}" }
  - id: lookup
    needs: [classify]
    if: \${{ steps.classify.output.text.contains('bug') }}
    uses: http.request
  - id: notify
    needs: classify
    uses: http.request
  - id: summarize
    needs: [lookup, notify]
    uses: llm.chat
`;

describe('workflow graph from YAML', () => {
  it('reads steps, their dependencies and lines', () => {
    const p = parseWorkflow(triage);
    expect(p.issues).toEqual([]);
    expect(p.definition?.name).toBe('triage');
    expect(p.steps.map((s) => [s.id, s.needs, s.line])).toEqual([
      ['classify', [], 5],
      ['lookup', ['classify'], 8],
      ['notify', ['classify'], 12],
      ['summarize', ['lookup', 'notify'], 15],
    ]);
    expect(p.steps[1]!.condition).toContain('contains');
  });

  it('lays steps out top to bottom: each below what it needs, parallel steps side by side', () => {
    const { nodes, edges } = layoutSteps(parseWorkflow(triage).steps);
    const at = Object.fromEntries(nodes.map((n) => [n.id, n.position]));
    expect(edges.map((e) => e.id).sort()).toEqual([
      'classify->lookup',
      'classify->notify',
      'lookup->summarize',
      'notify->summarize',
    ]);
    expect(at.lookup!.y).toBeGreaterThan(at.classify!.y);
    expect(at.notify!.y).toBe(at.lookup!.y);
    expect(at.notify!.x).not.toBe(at.lookup!.x);
    expect(at.summarize!.y).toBeGreaterThan(at.lookup!.y);
    // No two nodes overlap.
    for (const a of nodes)
      for (const b of nodes)
        if (a !== b)
          expect(Math.abs(a.position.x - b.position.x) >= 200 || Math.abs(a.position.y - b.position.y) >= 64).toBe(
            true,
          );
  });

  it('reports YAML syntax errors at their line', () => {
    const p = parseWorkflow('name: x\nsteps:\n  - id: a\n    uses: [unclosed\n');
    expect(p.definition).toBeUndefined();
    expect(p.issues.length).toBeGreaterThan(0);
    expect(p.issues[0]!.line).toBeGreaterThanOrEqual(4);
  });

  it('reports unknown needs, duplicate ids, missing uses and cycles at their lines', () => {
    const p = parseWorkflow(`name: bad
steps:
  - id: a
    uses: noop
    needs: [c]
  - id: b
    needs: [a, ghost]
    uses: noop
  - id: a
    uses: noop
  - id: c
    needs: b
`);
    const byMsg = (re: RegExp) => p.issues.find((i) => re.test(i.message));
    expect(byMsg(/"ghost"/)?.line).toBe(7);
    expect(byMsg(/used twice/)?.line).toBe(9);
    expect(byMsg(/needs `uses`/)?.line).toBe(11);
    expect(byMsg(/circle/)?.message).toMatch(/a → c → b → a|c → b → a → c|b → a → c → b/);
  });

  it('says what is wrong when steps are missing or not a list', () => {
    expect(parseWorkflow('name: x\n').issues[0]!.message).toMatch(/steps/);
    expect(parseWorkflow('name: x\nsteps: nope\n').issues[0]!.line).toBe(2);
    expect(parseWorkflow('- just a list\n').issues[0]!.message).toMatch(/mapping/);
  });

  it('finds the line of a server validation path, falling back to the nearest parent', () => {
    const p = parseWorkflow(triage);
    expect(lineOfPath(p, 'steps.1.needs.0')).toBe(9);
    expect(lineOfPath(p, '/body/definition/steps/2/uses')).toBe(14);
    expect(lineOfPath(p, 'steps.3.unknown_field')).toBe(15);
  });

  it('finds no cycle in a DAG and the cycle in a loop', () => {
    expect(
      findCycle([
        { id: 'a', needs: [] },
        { id: 'b', needs: ['a'] },
      ]),
    ).toBeUndefined();
    expect(findCycle([{ id: 'a', needs: ['a'] }])).toEqual(['a', 'a']);
  });
});
