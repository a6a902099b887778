/** What a parse may look at besides the raw value. */
export interface ParseContext {
  /** The environment the configuration is read from (settings that name an env variable read it here). */
  env: NodeJS.ProcessEnv;
}

/**
 * A failed parse. `at` is set by structured settings (lists of mappings): the path inside the value
 * (`[1].kind`) that is wrong; the error then quotes only what is safe to show, never the whole value.
 */
export type ParseFailure = { ok: false; error: string; at?: string };
export type ParseResult<T> = { ok: true; value: T } | ParseFailure;

/** One configuration setting: how to parse a raw value (string from env, any from YAML), its default and doc. */
export interface Setting<T> {
  readonly default: T;
  readonly description: string;
  /** The whole value is masked by `clarion config` and never echoed in an error. */
  readonly secret: boolean;
  /** Human description of what is allowed, used in docs and errors. */
  readonly allowed: string;
  parse(raw: unknown, ctx?: ParseContext): ParseResult<T>;
  /** The value as `clarion config` prints it, for settings with secrets inside (default: the value, or a mask when `secret`). */
  show?(value: T): unknown;
}

type Check = (value: string) => true | string;

const ok = <T>(value: T) => ({ ok: true as const, value });
const fail = (error: string) => ({ ok: false as const, error });

export function string(def: string, description: string, opts: { secret?: boolean } = {}): Setting<string> {
  return {
    default: def,
    description,
    secret: opts.secret ?? false,
    allowed: 'a string',
    parse: (raw) => (typeof raw === 'string' || typeof raw === 'number' ? ok(String(raw)) : fail('must be a string')),
  };
}

export function optionalString(
  description: string,
  opts: { secret?: boolean; check?: Check } = {},
): Setting<string | undefined> {
  return {
    default: undefined,
    description,
    secret: opts.secret ?? false,
    allowed: 'a string',
    parse: (raw) => {
      if (raw === null || raw === '') return ok(undefined);
      if (typeof raw !== 'string') return fail('must be a string');
      const verdict = opts.check?.(raw) ?? true;
      return verdict === true ? ok(raw) : fail(`must be ${verdict}`);
    },
  };
}

export function int(def: number, min: number, max: number, description: string): Setting<number> {
  return {
    default: def,
    description,
    secret: false,
    allowed: `an integer from ${min} to ${max}`,
    parse: (raw) => {
      const n =
        typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < min || n > max) return fail(`must be an integer from ${min} to ${max}`);
      return ok(n);
    },
  };
}

export function bool(def: boolean, description: string): Setting<boolean> {
  return {
    default: def,
    description,
    secret: false,
    allowed: 'true or false',
    parse: (raw) => {
      if (typeof raw === 'boolean') return ok(raw);
      const s = String(raw).trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(s)) return ok(true);
      if (['false', '0', 'no', 'off'].includes(s)) return ok(false);
      return fail('must be true or false');
    },
  };
}

export function enumOf<const T extends readonly string[]>(
  values: T,
  def: T[number],
  description: string,
): Setting<T[number]> {
  return {
    default: def,
    description,
    secret: false,
    allowed: `one of ${values.join(', ')}`,
    parse: (raw) =>
      typeof raw === 'string' && values.includes(raw)
        ? ok(raw as T[number])
        : fail(`must be one of ${values.join(', ')}`),
  };
}

export function list(def: string[], description: string): Setting<readonly string[]> {
  return {
    default: Object.freeze(def),
    description,
    secret: false,
    allowed: 'a comma-separated list (or a YAML list)',
    parse: (raw) => {
      if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return ok(Object.freeze([...raw]));
      if (typeof raw !== 'string') return fail('must be a comma-separated list of strings');
      return ok(
        Object.freeze(
          raw
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ),
      );
    },
  };
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `250ms`, `30s`, `15m`, `12h`, `30d` (or a plain number of milliseconds) to milliseconds. */
export function parseDuration(raw: unknown): number | undefined {
  if (typeof raw === 'number' && Number.isFinite(raw) && raw >= 0) return raw;
  if (typeof raw !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * durationUnits[m[2] ?? 'ms']!);
}

export function duration(def: string, description: string, opts: { allowZero?: boolean } = {}): Setting<number> {
  const min = opts.allowZero ? 0 : 1;
  return {
    default: parseDuration(def)!,
    description,
    secret: false,
    allowed: 'a duration such as 500ms, 30s, 15m, 12h or 30d',
    parse: (raw) => {
      const ms = parseDuration(raw);
      return ms === undefined || ms < min ? fail('must be a duration such as 500ms, 30s, 15m, 12h or 30d') : ok(ms);
    },
  };
}

const sizeUnits: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

export function size(def: string, description: string): Setting<number> {
  const parse = (raw: unknown): number | undefined => {
    if (typeof raw === 'number' && Number.isInteger(raw) && raw > 0) return raw;
    if (typeof raw !== 'string') return undefined;
    const m = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(raw.trim());
    if (!m) return undefined;
    const n = Number(m[1]) * sizeUnits[(m[2] ?? 'b').toLowerCase()]!;
    return n > 0 ? n : undefined;
  };
  return {
    default: parse(def)!,
    description,
    secret: false,
    allowed: 'a size such as 512kb, 1mb or 1048576',
    parse: (raw) => {
      const n = parse(raw);
      return n === undefined ? fail('must be a size such as 512kb, 1mb or 1048576') : ok(n);
    },
  };
}
