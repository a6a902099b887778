import Value from 'typebox/value';
import YAML, { LineCounter, isNode } from 'yaml';
import { parseDuration } from '../config/setting.js';
import { type ExpressionError, Expressions } from './expression.js';
import { WorkflowDefinitionSchema, type StepDefinition, type WorkflowDefinition } from './workflow-definition.js';

/** One problem in a definition, placed as precisely as the source allows. */
export interface WorkflowIssue {
  /** JSON pointer into the definition, e.g. `/steps/2/needs/0`. */
  path: string;
  message: string;
  /** 1-based line and column in the YAML/JSON text, when parsed from text. */
  line?: number;
  column?: number;
  /** The id of the step the problem is in. */
  step?: string;
}

export type ParseResult = { ok: true; definition: WorkflowDefinition } | { ok: false; issues: WorkflowIssue[] };

export interface ParseOptions {
  /** Whether a step may `uses:` this: a registered task type or one of the user's capabilities. */
  hasTask: (type: string) => boolean;
  expressions: Expressions;
  maxSteps: number;
}

const ROOTS = new Set(['inputs', 'steps', 'run', 'item', 'index', 'error']);

/** Parses YAML or JSON text (JSON is YAML) into a checked definition. */
export function parseWorkflowText(text: string, opts: ParseOptions): ParseResult {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: '', message: e.message.split('\n')[0]!, line: pos.line, column: pos.col };
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    return { ok: false, issues: [{ path: '', message: (err as Error).message }] };
  }
  const locate = (path: string): { line?: number; column?: number } => {
    const parts = path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    for (let n = parts.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(parts.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return {};
  };
  const result = checkWorkflow(value, opts);
  if (result.ok) return result;
  return { ok: false, issues: result.issues.map((i) => ({ ...i, ...locate(i.path) })) };
}

/** Checks a definition given as data (a JSON body): shape, then graph, tasks and expressions. */
export function checkWorkflow(value: unknown, opts: ParseOptions): ParseResult {
  const issues: WorkflowIssue[] = [];
  if (!Value.Check(WorkflowDefinitionSchema, value)) {
    const seen = new Set<string>();
    for (const e of Value.Errors(WorkflowDefinitionSchema, value)) {
      // `additionalProperties: false` reports twice; keep the readable one.
      if (e.keyword === 'boolean') continue;
      let path = e.instancePath;
      let message = e.message;
      if (e.keyword === 'additionalProperties') {
        const extra = (e.params as { additionalProperties?: string[] }).additionalProperties ?? [];
        path = `${path}/${extra[0] ?? ''}`;
        message = `unknown field ${extra.map((x) => JSON.stringify(x)).join(', ')}`;
      } else if (e.keyword === 'required') {
        const missing = (e.params as { requiredProperties?: string[] }).requiredProperties ?? [];
        message = `missing required field ${missing.map((x) => JSON.stringify(x)).join(', ')}`;
      }
      const key = `${path}|${message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push({ path, message, ...stepAt(value, path) });
      if (issues.length >= 50) break;
    }
    return { ok: false, issues };
  }
  const def = value as WorkflowDefinition;
  checkGraph(def, opts, issues);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, definition: def };
}

function stepAt(value: unknown, path: string): { step?: string } {
  const m = /^\/(steps|on_failure)\/(\d+)/.exec(path);
  if (!m) return {};
  const list = (value as Record<string, unknown>)[m[1]!];
  const step = Array.isArray(list) ? (list[Number(m[2])] as { id?: unknown } | undefined) : undefined;
  return typeof step?.id === 'string' ? { step: step.id } : {};
}

function checkGraph(def: WorkflowDefinition, opts: ParseOptions, issues: WorkflowIssue[]): void {
  const add = (path: string, message: string, step?: string) =>
    issues.push({ path, message, ...(step ? { step } : {}) });
  const total = def.steps.length + (def.on_failure?.length ?? 0);
  if (total > opts.maxSteps) add('/steps', `has ${total} steps; the limit is ${opts.maxSteps}`);

  const allIds = new Map<string, string>();
  const lists: ['steps' | 'on_failure', StepDefinition[]][] = [['steps', def.steps]];
  if (def.on_failure) lists.push(['on_failure', def.on_failure]);
  for (const [listName, steps] of lists) {
    steps.forEach((s, i) => {
      const at = `/${listName}/${i}`;
      if (allIds.has(s.id)) add(`${at}/id`, `duplicate step id "${s.id}" (also at ${allIds.get(s.id)})`, s.id);
      else allIds.set(s.id, at);
    });
  }
  if (def.timeout !== undefined && parseDuration(def.timeout) === undefined) add('/timeout', 'is not a duration');

  const mainIds = new Set(def.steps.map((s) => s.id));
  for (const [listName, steps] of lists) {
    const ids = new Set(steps.map((s) => s.id));
    const byId = new Map(steps.map((s) => [s.id, s]));
    steps.forEach((s, i) => {
      const at = `/${listName}/${i}`;
      if (!s.uses && !s.wait) add(at, 'needs "uses" (a task type or capability) or "wait"', s.id);
      if (s.uses && s.wait) add(`${at}/wait`, '"wait" cannot be combined with "uses"', s.id);
      if (s.uses && !opts.hasTask(s.uses)) add(`${at}/uses`, `unknown task type or capability "${s.uses}"`, s.id);
      if (s.wait && s.foreach !== undefined) add(`${at}/foreach`, '"foreach" cannot be combined with "wait"', s.id);
      if (s.concurrency !== undefined && s.foreach === undefined) {
        add(`${at}/concurrency`, '"concurrency" only applies to a foreach step', s.id);
      }
      (s.needs ?? []).forEach((n, j) => {
        if (n === s.id) add(`${at}/needs/${j}`, 'a step cannot need itself', s.id);
        else if (!ids.has(n)) add(`${at}/needs/${j}`, `unknown step "${n}"`, s.id);
      });
    });
    for (const cycle of findCycles(steps)) {
      const i = steps.findIndex((s) => s.id === cycle[0]);
      add(`/${listName}/${i}/needs`, `cycle: ${[...cycle, cycle[0]].join(' -> ')}`, cycle[0]);
    }
    if (issues.length > 0) continue;
    // Expressions: parse them and check that every `steps.X` is upstream of the step using it.
    steps.forEach((s, i) => {
      const at = `/${listName}/${i}`;
      const upstream = ancestors(s.id, byId);
      // on_failure steps see every main step (outputs of those that finished) plus their own needs.
      const visible = listName === 'on_failure' ? new Set([...upstream, ...mainIds]) : upstream;
      const check = (source: string, path: string, opts2: { bare?: boolean } = {}) => {
        const found = opts2.bare && !source.includes('${{') ? [{ source, path: [] as (string | number)[] }] : [];
        for (const e of found.length > 0 ? found : Expressions.expressionsIn(source)) {
          if ('unterminated' in e && e.unterminated) {
            add(path, '"${{" without a closing "}}"', s.id);
            continue;
          }
          checkExpression(e.source, `${path}`, s, visible, s.foreach !== undefined, listName === 'on_failure');
        }
      };
      const checkExpression = (
        source: string,
        path: string,
        step: StepDefinition,
        allowed: Set<string>,
        inForeach: boolean,
        inFailure: boolean,
      ) => {
        let refs;
        try {
          refs = opts.expressions.references(source);
        } catch (err) {
          const e = err as ExpressionError;
          add(path, `bad expression "${source.trim()}": ${e.message}`, step.id);
          return;
        }
        for (const r of refs.roots) {
          if (!ROOTS.has(r))
            add(path, `unknown name "${r}" in expression (use inputs, steps, item, index, run)`, step.id);
          else if ((r === 'item' || r === 'index') && !inForeach) {
            add(path, `"${r}" is only defined in a foreach step`, step.id);
          } else if (r === 'error' && !inFailure) add(path, '"error" is only defined in on_failure steps', step.id);
        }
        for (const ref of refs.steps) {
          if (!allIds.has(ref)) add(path, `unknown step "${ref}" in expression`, step.id);
          else if (!allowed.has(ref)) add(path, `step "${ref}" is not in "needs" (directly or indirectly)`, step.id);
        }
      };
      if (s.if !== undefined) check(s.if, `${at}/if`, { bare: true });
      if (typeof s.foreach === 'string') check(s.foreach, `${at}/foreach`, { bare: true });
      for (const e of Expressions.expressionsIn(s.with ?? {}, [])) {
        const path = `${at}/with/${e.path.join('/')}`;
        if (e.unterminated) add(path, '"${{" without a closing "}}"', s.id);
        else checkExpression(e.source, path, s, visible, s.foreach !== undefined, listName === 'on_failure');
      }
      for (const [key, d] of [
        ['timeout', s.timeout],
        ['wait', typeof s.wait === 'object' ? s.wait.timeout : s.wait],
        ['retry/delay', s.retry?.delay],
        ['retry/max_delay', s.retry?.max_delay],
      ] as const) {
        if (d !== undefined && parseDuration(d) === undefined) add(`${at}/${key}`, 'is not a duration', s.id);
      }
    });
  }
  if (issues.length === 0 && def.outputs) {
    for (const e of Expressions.expressionsIn(def.outputs, [])) {
      const path = `/outputs/${e.path.join('/')}`;
      if (e.unterminated) {
        add(path, '"${{" without a closing "}}"');
        continue;
      }
      try {
        const refs = opts.expressions.references(e.source);
        for (const r of refs.roots)
          if (!['inputs', 'steps', 'run'].includes(r)) add(path, `unknown name "${r}" in outputs`);
        for (const ref of refs.steps) if (!mainIds.has(ref)) add(path, `unknown step "${ref}" in expression`);
      } catch (err) {
        add(path, `bad expression "${e.source.trim()}": ${(err as Error).message}`);
      }
    }
  }
  if (def.inputs) {
    for (const [name, spec] of Object.entries(def.inputs)) {
      if (spec.default !== undefined && !matchesType(spec.default, spec.type)) {
        add(`/inputs/${name}/default`, `must be of type ${spec.type}`);
      }
    }
  }
}

/** Every step reachable backwards through `needs`. */
function ancestors(id: string, byId: Map<string, StepDefinition>): Set<string> {
  const out = new Set<string>();
  const stack = [...(byId.get(id)?.needs ?? [])];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (out.has(n)) continue;
    out.add(n);
    stack.push(...(byId.get(n)?.needs ?? []));
  }
  return out;
}

/** Cycles through `needs` (each reported once, starting at its first step in file order). */
function findCycles(steps: StepDefinition[]): string[][] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const state = new Map<string, 1 | 2>();
  const cycles: string[][] = [];
  const stack: string[] = [];
  const visit = (id: string) => {
    state.set(id, 1);
    stack.push(id);
    for (const n of byId.get(id)?.needs ?? []) {
      if (!byId.has(n)) continue;
      if (state.get(n) === 1) cycles.push(stack.slice(stack.indexOf(n)));
      else if (!state.has(n)) visit(n);
    }
    stack.pop();
    state.set(id, 2);
  };
  for (const s of steps) if (!state.has(s.id)) visit(s.id);
  return cycles;
}

export function matchesType(value: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return !!value && typeof value === 'object' && !Array.isArray(value);
    default:
      return false;
  }
}
