import dagre from '@dagrejs/dagre';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';

/** The parts of a step the graph shows; the engine's schema has more, and the server validates it all. */
export interface StepInfo {
  id: string;
  uses: string | undefined;
  needs: string[];
  condition: string | undefined;
  foreach: boolean;
  wait: boolean;
  line: number;
}

export interface DefinitionIssue {
  /** 1-based line in the YAML text, when known. */
  line: number | undefined;
  message: string;
  /** Where the issue is, as a path like `steps.1.needs.0`. */
  path?: string;
}

export interface ParsedWorkflow {
  /** The definition as a plain object (what is sent to the server), when the YAML parses. */
  definition: Record<string, unknown> | undefined;
  steps: StepInfo[];
  issues: DefinitionIssue[];
  doc: Document | undefined;
  lines: LineCounter;
}

const STEP_ID = /^[a-z_][a-z0-9_-]{0,63}$/;

function lineOf(lines: LineCounter, offset: number | undefined): number | undefined {
  return offset === undefined ? undefined : lines.linePos(offset).line;
}

/**
 * Parses workflow YAML and checks what the graph needs: steps with unique ids, `needs` naming known
 * steps, and no cycles. Every issue carries the line it is on, so the editor can mark it.
 */
export function parseWorkflow(text: string): ParsedWorkflow {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const issues: DefinitionIssue[] = [];
  for (const e of [...doc.errors, ...doc.warnings]) {
    issues.push({ line: e.linePos?.[0]?.line ?? lineOf(lines, e.pos[0]), message: e.message.split('\n')[0]! });
  }
  if (doc.errors.length) return { definition: undefined, steps: [], issues, doc, lines };

  const value = doc.toJS({ maxAliasCount: 50 }) as unknown;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push({ line: 1, message: 'A workflow is a mapping with at least `name` and `steps`.' });
    return { definition: undefined, steps: [], issues, doc, lines };
  }
  const definition = value as Record<string, unknown>;
  const stepsNode = isMap(doc.contents) ? doc.contents.get('steps', true) : undefined;
  if (!isSeq(stepsNode)) {
    issues.push({
      line: lineOf(lines, (stepsNode as { range?: number[] } | undefined)?.range?.[0]) ?? 1,
      message: '`steps` must be a list of steps.',
      path: 'steps',
    });
    return { definition, steps: [], issues, doc, lines };
  }

  const steps: StepInfo[] = [];
  const seen = new Map<string, number>();
  stepsNode.items.forEach((node, i) => {
    const line = lineOf(lines, (node as { range?: number[] }).range?.[0]) ?? 1;
    const raw = (definition.steps as unknown[])[i];
    if (!isMap(node) || typeof raw !== 'object' || raw === null) {
      issues.push({ line, message: `Step ${i + 1} must be a mapping with an \`id\`.`, path: `steps.${i}` });
      return;
    }
    const s = raw as Record<string, unknown>;
    const idLine = lineOf(lines, (node.get('id', true) as { range?: number[] } | undefined)?.range?.[0]) ?? line;
    if (typeof s.id !== 'string' || !STEP_ID.test(s.id)) {
      issues.push({
        line: idLine,
        message: `Step ${i + 1} needs an \`id\` of lower-case letters, digits, _ and - (at most 64).`,
        path: `steps.${i}.id`,
      });
      return;
    }
    if (seen.has(s.id)) {
      issues.push({ line: idLine, message: `Step id "${s.id}" is used twice.`, path: `steps.${i}.id` });
      return;
    }
    seen.set(s.id, i);
    const needs =
      typeof s.needs === 'string'
        ? [s.needs]
        : Array.isArray(s.needs)
          ? s.needs.filter((n): n is string => typeof n === 'string')
          : [];
    if (typeof s.uses !== 'string' && typeof s.workflow !== 'string') {
      issues.push({
        line,
        message: `Step "${s.id}" needs \`uses\` (a task type or capability).`,
        path: `steps.${i}.uses`,
      });
    }
    steps.push({
      id: s.id,
      uses:
        typeof s.uses === 'string' ? s.uses : typeof s.workflow === 'string' ? `workflow: ${s.workflow}` : undefined,
      needs,
      condition: typeof s.if === 'string' ? s.if : undefined,
      foreach: s.foreach !== undefined,
      wait: s.wait !== undefined,
      line,
    });
  });

  for (const step of steps) {
    for (const [j, n] of step.needs.entries()) {
      if (!seen.has(n)) {
        const idx = seen.get(step.id)!;
        const needsNode = (stepsNode.items[idx] as { get?: (k: string, keep: boolean) => unknown }).get?.(
          'needs',
          true,
        ) as { range?: number[]; items?: { range?: number[] }[] } | undefined;
        const at = needsNode?.items?.[j]?.range?.[0] ?? needsNode?.range?.[0];
        issues.push({
          line: lineOf(lines, at) ?? step.line,
          message: `Step "${step.id}" needs "${n}", which is not a step of this workflow.`,
          path: `steps.${idx}.needs.${j}`,
        });
      }
    }
  }

  const cycle = findCycle(steps);
  if (cycle) {
    const first = steps.find((s) => s.id === cycle[0])!;
    issues.push({ line: first.line, message: `Steps depend on each other in a circle: ${cycle.join(' → ')}.` });
  }
  return { definition, steps, issues, doc, lines };
}

/** A dependency cycle as a list of ids (first repeated at the end), or undefined. */
export function findCycle(steps: Pick<StepInfo, 'id' | 'needs'>[]): string[] | undefined {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const n of byId.get(id)?.needs ?? []) {
      if (!byId.has(n)) continue;
      const c = visit(n);
      if (c) return c;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const s of steps) {
    const c = visit(s.id);
    if (c) return c;
  }
  return undefined;
}

/** 1-based line of a path like `steps.1.needs.0` (or `/definition/steps/1`) in the YAML, if it exists. */
export function lineOfPath(parsed: ParsedWorkflow, path: string): number | undefined {
  if (!parsed.doc) return undefined;
  const parts = path
    .replace(/^\/?(body\/)?(definition\/)?/, '')
    .split(/[./]/)
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  // The deepest node that exists: an unknown field is reported on its parent's line.
  for (let n = parts.length; n > 0; n--) {
    const node = parsed.doc.getIn(parts.slice(0, n), true) as { range?: number[] } | undefined;
    const line = lineOf(parsed.lines, node?.range?.[0]);
    if (line !== undefined) return line;
  }
  return undefined;
}

export const NODE_WIDTH = 200;
export const NODE_HEIGHT = 64;

export interface GraphNode<T> {
  id: string;
  position: { x: number; y: number };
  data: T;
}
export interface GraphEdge {
  id: string;
  source: string;
  target: string;
}

/** Positions steps top to bottom by dependency (dagre): a step sits below everything it needs. */
export function layoutSteps<T extends Pick<StepInfo, 'id' | 'needs'>>(
  steps: T[],
): { nodes: GraphNode<T>[]; edges: GraphEdge[] } {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 40, ranksep: 56, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(steps.map((s) => s.id));
  for (const s of steps) g.setNode(s.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  const edges: GraphEdge[] = [];
  for (const s of steps) {
    for (const n of s.needs) {
      if (!ids.has(n) || n === s.id) continue;
      g.setEdge(n, s.id);
      edges.push({ id: `${n}->${s.id}`, source: n, target: s.id });
    }
  }
  dagre.layout(g);
  const nodes = steps.map((s) => {
    const p = g.node(s.id) as { x: number; y: number };
    // dagre gives centres; React Flow wants top-left corners.
    return { id: s.id, position: { x: p.x - NODE_WIDTH / 2, y: p.y - NODE_HEIGHT / 2 }, data: s };
  });
  return { nodes, edges };
}
