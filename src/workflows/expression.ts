import { Environment } from '@marcbachmann/cel-js';

/** Matches one `${{ ... }}` in a string. The body may not contain `}}`. */
const EXPR = /\$\{\{([\s\S]*?)\}\}/g;
const WHOLE = /^\s*\$\{\{([\s\S]*?)\}\}\s*$/;

/** Comprehension macros: nesting them multiplies work, so nesting is capped. */
const MACROS = new Set(['map', 'filter', 'all', 'exists', 'exists_one', 'transformList', 'transformMap']);

export interface ExpressionLimits {
  /** Longest expression source, in characters. */
  maxLength: number;
  /** Largest value an expression may produce, in characters of text (strings summed). */
  maxResultChars: number;
}

export const defaultExpressionLimits: ExpressionLimits = { maxLength: 4000, maxResultChars: 1_000_000 };

/** A reference found in an expression: `steps.<id>` or a root variable. */
export interface ExpressionRefs {
  roots: Set<string>;
  steps: Set<string>;
}

export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly expression: string,
    /** Offset of the problem inside the expression, when known. */
    readonly position?: number,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

type Ast = { op: string; args: unknown; pos?: number };
type Compiled = ((ctx: Record<string, unknown>) => unknown) & { ast: Ast };

/**
 * CEL over workflow data. User text is parsed and interpreted by cel-js (a non-Turing-complete
 * language); nothing is ever handed to eval/Function/vm. Values go in as JSON with integers as
 * BigInt (CEL's int) and come out as JSON again.
 */
export class Expressions {
  private readonly env: Environment;
  private readonly cache = new Map<string, Compiled>();

  constructor(private readonly limits: ExpressionLimits = defaultExpressionLimits) {
    this.env = new Environment({
      unlistedVariablesAreDyn: true,
      homogeneousAggregateLiterals: false,
      enableOptionalTypes: true,
      limits: { maxAstNodes: 500, maxDepth: 40, maxListElements: 500, maxMapEntries: 500, maxCallArguments: 16 },
    });
  }

  /** Parses one CEL expression (without `${{ }}`), checking structural limits. Cached by source. */
  compile(source: string): Compiled {
    const hit = this.cache.get(source);
    if (hit) return hit;
    if (source.length > this.limits.maxLength) {
      throw new ExpressionError(`expression is longer than ${this.limits.maxLength} characters`, source);
    }
    let compiled: Compiled;
    try {
      compiled = this.env.parse(source) as unknown as Compiled;
    } catch (err) {
      const e = err as Error & { node?: { pos?: number } };
      throw new ExpressionError(firstLine(e.message), source, e.node?.pos);
    }
    if (macroDepth(compiled.ast) > 2) {
      throw new ExpressionError('comprehensions (map, filter, all, exists) may be nested at most 2 deep', source);
    }
    if (this.cache.size > 5000) this.cache.clear();
    this.cache.set(source, compiled);
    return compiled;
  }

  /** Evaluates one CEL expression over JSON data; the result is JSON. */
  evaluate(source: string, data: Record<string, unknown>): unknown {
    const fn = this.compile(source.trim());
    let out: unknown;
    try {
      out = fn(toCel(data) as Record<string, unknown>);
    } catch (err) {
      throw new ExpressionError(firstLine((err as Error).message), source);
    }
    if (out instanceof Promise) throw new ExpressionError('asynchronous functions are not allowed', source);
    if (textSize(out, this.limits.maxResultChars) > this.limits.maxResultChars) {
      throw new ExpressionError(`result is larger than ${this.limits.maxResultChars} characters`, source);
    }
    return fromCel(out);
  }

  /** `if:` accepts `${{ expr }}` or a bare expression. */
  condition(source: string, data: Record<string, unknown>): boolean {
    const m = WHOLE.exec(source);
    const v = this.evaluate(m ? m[1]! : source, data);
    if (typeof v !== 'boolean')
      throw new ExpressionError(`condition must be true or false, got ${typeName(v)}`, source);
    return v;
  }

  /**
   * Replaces every `${{ }}` in a value tree. A string that is one whole expression keeps the
   * expression's type; otherwise results are joined as text. Results are never scanned again,
   * so data containing `${{ }}` stays text.
   */
  render(value: unknown, data: Record<string, unknown>): unknown {
    if (typeof value === 'string') return this.renderString(value, data);
    if (Array.isArray(value)) return value.map((v) => this.render(v, data));
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.render(v, data);
      return out;
    }
    return value;
  }

  private renderString(text: string, data: Record<string, unknown>): unknown {
    if (!text.includes('${{')) return text;
    const whole = WHOLE.exec(text);
    if (whole && !whole[1]!.includes('${{')) return this.evaluate(whole[1]!, data);
    let total = 0;
    const out = text.replace(EXPR, (_m, body: string) => {
      const v = this.evaluate(body, data);
      const s = typeof v === 'string' ? v : JSON.stringify(v);
      total += s.length;
      if (total > this.limits.maxResultChars) {
        throw new ExpressionError(`result is larger than ${this.limits.maxResultChars} characters`, body);
      }
      return s;
    });
    return out;
  }

  /** Every expression inside a value tree (sources without `${{ }}`), with where it was found. */
  static expressionsIn(
    value: unknown,
    path: (string | number)[] = [],
  ): { source: string; path: (string | number)[]; unterminated?: boolean }[] {
    const found: { source: string; path: (string | number)[]; unterminated?: boolean }[] = [];
    const walk = (v: unknown, p: (string | number)[]) => {
      if (typeof v === 'string') {
        for (const m of v.matchAll(EXPR)) found.push({ source: m[1]!, path: p });
        if (v.replace(EXPR, '').includes('${{')) found.push({ source: v, path: p, unterminated: true });
      } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    };
    walk(value, path);
    return found;
  }

  /** Root variables and `steps.<id>` names an expression refers to (checked against the definition). */
  references(source: string): ExpressionRefs {
    const refs: ExpressionRefs = { roots: new Set(), steps: new Set() };
    const bound = new Set<string>();
    const walk = (node: unknown) => {
      if (!node || typeof node !== 'object') return;
      if (Array.isArray(node)) return node.forEach(walk);
      const n = node as Ast;
      if (n.op === 'id' && typeof n.args === 'string') {
        if (!bound.has(n.args)) refs.roots.add(n.args);
        return;
      }
      if ((n.op === '.' || n.op === '.?' || n.op === '[]' || n.op === '[?]') && Array.isArray(n.args)) {
        const [base, key] = n.args as [Ast, unknown];
        if (base?.op === 'id' && base.args === 'steps' && !bound.has('steps')) {
          const name = typeof key === 'string' ? key : (key as Ast)?.op === 'value' ? (key as Ast).args : undefined;
          if (typeof name === 'string') refs.steps.add(name);
        }
      }
      if (n.op === 'rcall' && Array.isArray(n.args) && MACROS.has(n.args[0] as string)) {
        // The first argument of a macro names its loop variable.
        const [, receiver, params] = n.args as [string, Ast, Ast[]];
        walk(receiver);
        const vars = (params ?? []).slice(0, -1).flatMap((p) => (p.op === 'id' ? [p.args as string] : []));
        const added = vars.filter((v) => !bound.has(v));
        added.forEach((v) => bound.add(v));
        walk((params ?? []).slice(-1));
        added.forEach((v) => bound.delete(v));
        return;
      }
      walk(n.args);
    };
    walk(this.compile(source.trim()).ast);
    return refs;
  }
}

function macroDepth(node: unknown): number {
  if (!node || typeof node !== 'object') return 0;
  if (Array.isArray(node)) return Math.max(0, ...node.map(macroDepth));
  const n = node as Ast;
  const inner = macroDepth(n.args);
  return n.op === 'rcall' && Array.isArray(n.args) && MACROS.has(n.args[0] as string) ? inner + 1 : inner;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v;
}

/** JSON → CEL values: integers become BigInt (CEL int), so `inputs.n + 1` works. */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) out[k] = toCel(v);
    return out;
  }
  return value;
}

/** CEL values → JSON. */
export function fromCel(value: unknown): unknown {
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value.toString();
  }
  if (value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) out[String(k)] = fromCel(v);
    return out;
  }
  if (value instanceof Set) return [...value].map(fromCel);
  if (Array.isArray(value)) return value.map(fromCel);
  if (value && typeof value === 'object') {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function' && !(Symbol.iterator in value)) {
      const proto = Object.getPrototypeOf(value) as object | null;
      if (proto !== Object.prototype && proto !== null) return String(value);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromCel(v);
    return out;
  }
  return value;
}

/** Text size of a value, stopping early once over `cap` (ropes are not flattened). */
function textSize(value: unknown, cap: number): number {
  let total = 0;
  const stack: unknown[] = [value];
  let visited = 0;
  while (stack.length > 0 && total <= cap) {
    const v = stack.pop();
    if (++visited > 1_000_000) return cap + 1;
    if (typeof v === 'string') total += v.length;
    else if (v instanceof Uint8Array) total += v.length;
    else if (Array.isArray(v)) {
      total += 2 + v.length;
      for (const x of v) stack.push(x);
    } else if (v instanceof Map) {
      for (const [k, x] of v) stack.push(k, x);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        total += k.length;
        stack.push(x);
      }
    } else total += 8;
  }
  return total;
}
