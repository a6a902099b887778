import { parse as parseCel } from '@marcbachmann/cel-js';
import type { ParseContext, ParseFailure, ParseResult, Setting } from './setting.js';

/**
 * The structured LLM settings: providers, model aliases and price overrides written in clarion.yaml (or
 * as JSON in their CLARION_* variable). They mirror the bodies of the providers, model-aliases and
 * model-prices APIs, and are checked as strictly: a wrong field stops the start with its path.
 */

/** Kept equal to `providerKinds` in src/llm/llm.ts (a unit test checks); config does not import the LLM layer. */
export const configProviderKinds = ['openai', 'anthropic', 'ollama'] as const;
export type ConfigProviderKind = (typeof configProviderKinds)[number];
/** Kept equal to `routingStrategies` in src/llm/llm.ts. */
export const configRoutingStrategies = ['fallback', 'round_robin', 'least_busy', 'lowest_latency'] as const;

/** Where a provider of each kind answers when `base_url` is left out. */
export const defaultBaseUrls: Record<ConfigProviderKind, string> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  ollama: 'http://127.0.0.1:11434',
};

export interface ConfiguredProvider {
  readonly name: string;
  readonly kind: ConfigProviderKind;
  readonly base_url: string;
  /** The key itself: given inline, or read from the variable `api_key_env` names when the config is loaded. */
  readonly api_key?: string;
  readonly api_key_env?: string;
  readonly models: readonly string[];
  readonly enabled: boolean;
}

export interface ConfiguredDeployment {
  readonly provider: string;
  readonly model: string;
  readonly weight?: number;
  readonly rpm?: number;
  readonly tpm?: number;
}

export type ConfiguredCheck = 'non_empty' | 'json' | { readonly contains: string } | { readonly cel: string };

export interface ConfiguredAlias {
  readonly strategy: (typeof configRoutingStrategies)[number];
  readonly deployments: readonly ConfiguredDeployment[];
  readonly delegate?: { readonly try: string; readonly escalate_to: string; readonly check?: ConfiguredCheck };
}

export interface ConfiguredPrice {
  readonly input_per_mtok: number;
  readonly output_per_mtok: number;
  /** Omitted: the built-in window of the model, if any. */
  readonly context_window?: number | null;
}

/** A field that is wrong, with the path inside the setting's value. */
class FieldError extends Error {
  constructor(
    readonly at: string,
    message: string,
  ) {
    super(message);
  }
}

const PROVIDER_NAME = /^[a-z0-9][a-z0-9._-]*$/;
const ALIAS_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A value quoted in an error, unless it could carry a credential. */
const got = (v: unknown): string => {
  if (typeof v === 'string' && v.includes('@')) return '';
  const text = JSON.stringify(v);
  return text === undefined ? '' : ` (got ${text.length > 80 ? `${text.slice(0, 77)}...` : text})`;
};

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `.name` for plain keys, `["a.b"]` for the rest, so a path can be read back. */
const keyPath = (k: string): string => (/^[A-Za-z0-9_-]+$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);

function mapping(v: unknown, at: string, fields: readonly string[], what: string): Record<string, unknown> {
  if (!isMapping(v)) throw new FieldError(at, `must be a mapping of ${what}`);
  for (const k of Object.keys(v)) {
    if (!fields.includes(k)) throw new FieldError(`${at}${keyPath(k)}`, `unknown field; known: ${fields.join(', ')}`);
  }
  return v;
}

function requiredString(v: unknown, at: string, max: number, pattern?: { re: RegExp; says: string }): string {
  if (v === undefined || v === null || v === '') {
    throw new FieldError(at, `must be given${pattern ? `: ${pattern.says}` : ''}`);
  }
  if (typeof v !== 'string') throw new FieldError(at, `must be a string${got(v)}`);
  if (v.length > max) throw new FieldError(at, `must be at most ${max} characters`);
  if (pattern && !pattern.re.test(v)) throw new FieldError(at, `must be ${pattern.says}${got(v)}`);
  return v;
}

function optionalInt(v: unknown, at: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new FieldError(at, `must be an integer from ${min} to ${max}${got(v)}`);
  }
  return v;
}

function number(v: unknown, at: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new FieldError(at, `must be a number from ${min} to ${max}${got(v)}`);
  }
  return v;
}

function oneOf<T extends string>(v: unknown, at: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !values.includes(v as T)) {
    throw new FieldError(at, `must be one of ${values.join(', ')}${got(v)}`);
  }
  return v as T;
}

/** http(s), no credentials, no query or fragment; trailing slashes dropped (as the providers API stores it). */
function baseUrl(v: unknown, at: string): string {
  const s = requiredString(v, at, 500);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new FieldError(at, `must be an http(s) URL${got(s)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new FieldError(at, `must be an http(s) URL${got(s)}`);
  if (u.username || u.password) throw new FieldError(at, 'must not carry credentials; use api_key or api_key_env');
  if (u.search || u.hash) throw new FieldError(at, `must not have a query or fragment${got(s)}`);
  return u.toString().replace(/\/+$/, '');
}

function modelList(v: unknown, at: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new FieldError(at, 'must be a list of model names');
  if (v.length > 500) throw new FieldError(at, 'must list at most 500 models');
  return [...new Set(v.map((m, i) => requiredString(m, `${at}[${i}]`, 200)))];
}

/** YAML gives the value itself; the environment gives JSON text. Empty means "none". */
function structured(raw: unknown, what: string): { value: unknown } | ParseFailure {
  if (typeof raw !== 'string') return { value: raw };
  if (raw.trim() === '') return { value: null };
  try {
    return { value: JSON.parse(raw) };
  } catch {
    // The parser's message quotes the text around the error, which may be a key: say only that it is not JSON.
    return {
      ok: false,
      error: `must be ${what} as JSON in the environment variable (the text is not valid JSON)`,
      at: '',
    };
  }
}

function run<T>(fn: () => T): ParseResult<T> {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, error: err.message, at: err.at };
    throw err;
  }
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

const PROVIDER_FIELDS = ['name', 'kind', 'base_url', 'api_key', 'api_key_env', 'models', 'enabled'] as const;

function provider(v: unknown, at: string, env: NodeJS.ProcessEnv): ConfiguredProvider {
  const m = mapping(v, at, PROVIDER_FIELDS, 'provider fields');
  const name = requiredString(m.name, `${at}.name`, 64, {
    re: PROVIDER_NAME,
    says: 'a name of lower-case letters, digits, ".", "_" and "-" (e.g. openai)',
  });
  const kind = oneOf(m.kind, `${at}.kind`, configProviderKinds);
  const base_url =
    m.base_url === undefined || m.base_url === null ? defaultBaseUrls[kind] : baseUrl(m.base_url, `${at}.base_url`);
  if (m.api_key !== undefined && m.api_key !== null && m.api_key_env !== undefined && m.api_key_env !== null) {
    throw new FieldError(`${at}.api_key_env`, 'must not be given together with api_key (give one of them)');
  }
  let api_key: string | undefined;
  let api_key_env: string | undefined;
  if (m.api_key !== undefined && m.api_key !== null) {
    // Never quoted: it is the secret.
    if (typeof m.api_key !== 'string' || m.api_key === '' || m.api_key.length > 1000) {
      throw new FieldError(`${at}.api_key`, 'must be a string of 1 to 1000 characters');
    }
    api_key = m.api_key;
  }
  if (m.api_key_env !== undefined && m.api_key_env !== null) {
    api_key_env = requiredString(m.api_key_env, `${at}.api_key_env`, 200, {
      re: ENV_NAME,
      says: 'the name of an environment variable (letters, digits and _)',
    });
    const key = env[api_key_env];
    if (!key) throw new FieldError(`${at}.api_key_env`, `names ${api_key_env}, which is not set or empty`);
    api_key = key;
  }
  let enabled = true;
  if (m.enabled !== undefined && m.enabled !== null) {
    if (typeof m.enabled !== 'boolean') throw new FieldError(`${at}.enabled`, `must be true or false${got(m.enabled)}`);
    enabled = m.enabled;
  }
  return {
    name,
    kind,
    base_url,
    ...(api_key !== undefined ? { api_key } : {}),
    ...(api_key_env !== undefined ? { api_key_env } : {}),
    models: modelList(m.models, `${at}.models`),
    enabled,
  };
}

/** `llm_providers`: a list of providers, names unique. */
export function llmProviders(description: string): Setting<readonly ConfiguredProvider[]> {
  const what = 'a list of providers';
  return {
    default: Object.freeze([]),
    description,
    secret: false,
    allowed: `${what} {name, kind (${configProviderKinds.join(' | ')}), base_url, api_key or api_key_env, models, enabled}`,
    parse: (raw, ctx?: ParseContext) => {
      const s = structured(raw, what);
      if ('ok' in s) return s;
      return run(() => {
        if (s.value === null || s.value === undefined) return Object.freeze([]);
        if (!Array.isArray(s.value)) throw new FieldError('', `must be ${what}`);
        const seen = new Map<string, number>();
        const out = s.value.map((p, i) => {
          const parsed = provider(p, `[${i}]`, ctx?.env ?? {});
          const before = seen.get(parsed.name);
          if (before !== undefined) {
            throw new FieldError(`[${i}].name`, `must be unique ("${parsed.name}" is also the name of [${before}])`);
          }
          seen.set(parsed.name, i);
          return parsed;
        });
        return deepFreeze(out);
      });
    },
    show: (providers) => providers.map((p) => (p.api_key ? { ...p, api_key: '********' } : p)),
  };
}

const ALIAS_FIELDS = ['strategy', 'deployments', 'delegate'] as const;
const DEPLOYMENT_FIELDS = ['provider', 'model', 'weight', 'rpm', 'tpm'] as const;

function check(v: unknown, at: string): ConfiguredCheck | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'non_empty' || v === 'json') return v;
  if (isMapping(v) && Object.keys(v).length === 1 && typeof v.contains === 'string' && v.contains !== '') {
    return { contains: v.contains };
  }
  if (isMapping(v) && Object.keys(v).length === 1 && typeof v.cel === 'string' && v.cel !== '') {
    try {
      parseCel(v.cel);
    } catch (err) {
      throw new FieldError(`${at}.cel`, `must be a valid CEL expression: ${(err as Error).message}`);
    }
    return { cel: v.cel };
  }
  throw new FieldError(at, 'must be non_empty, json, {contains: TEXT} or {cel: EXPRESSION}');
}

function alias(name: string, v: unknown, at: string): ConfiguredAlias {
  if (name.length > 64 || !ALIAS_NAME.test(name)) {
    throw new FieldError(at, 'must be named with letters, digits, ".", "_" and "-" (at most 64)');
  }
  const m = mapping(v, at, ALIAS_FIELDS, 'alias fields');
  const strategy =
    m.strategy === undefined || m.strategy === null
      ? 'fallback'
      : oneOf(m.strategy, `${at}.strategy`, configRoutingStrategies);
  const list = m.deployments ?? [];
  if (!Array.isArray(list)) throw new FieldError(`${at}.deployments`, 'must be a list of {provider, model}');
  if (list.length > 50) throw new FieldError(`${at}.deployments`, 'must list at most 50 deployments');
  const deployments = list.map((d, i): ConfiguredDeployment => {
    const dat = `${at}.deployments[${i}]`;
    const dm = mapping(d, dat, DEPLOYMENT_FIELDS, 'deployment fields');
    const weight = optionalInt(dm.weight, `${dat}.weight`, 1, 1000);
    const rpm = optionalInt(dm.rpm, `${dat}.rpm`, 1, 10_000_000);
    const tpm = optionalInt(dm.tpm, `${dat}.tpm`, 1, 1_000_000_000);
    return {
      provider: requiredString(dm.provider, `${dat}.provider`, 64, {
        re: PROVIDER_NAME,
        says: 'a provider name (lower-case letters, digits, ".", "_" and "-")',
      }),
      model: requiredString(dm.model, `${dat}.model`, 200),
      ...(weight !== undefined ? { weight } : {}),
      ...(rpm !== undefined ? { rpm } : {}),
      ...(tpm !== undefined ? { tpm } : {}),
    };
  });
  let delegate: ConfiguredAlias['delegate'];
  if (m.delegate !== undefined && m.delegate !== null) {
    const dm = mapping(m.delegate, `${at}.delegate`, ['try', 'escalate_to', 'check'], 'delegate fields');
    const t = requiredString(dm.try, `${at}.delegate.try`, 200);
    const e = requiredString(dm.escalate_to, `${at}.delegate.escalate_to`, 200);
    if (t === name) throw new FieldError(`${at}.delegate.try`, 'must not name the alias itself');
    if (e === name) throw new FieldError(`${at}.delegate.escalate_to`, 'must not name the alias itself');
    const c = check(dm.check, `${at}.delegate.check`);
    delegate = { try: t, escalate_to: e, ...(c !== undefined ? { check: c } : {}) };
  }
  if (deployments.length === 0 && !delegate) {
    throw new FieldError(`${at}.deployments`, 'must list at least one deployment (or give a delegate)');
  }
  return { strategy, deployments, ...(delegate ? { delegate } : {}) };
}

/**
 * A setting whose value is a mapping of names to entries (YAML, or JSON in the environment variable): each entry
 * is checked by `entry` with its own path (`name.field`) for messages; the result is frozen.
 */
function mappingSetting<T>(
  description: string,
  what: string,
  entry: (name: string, value: unknown, at: string) => T,
): Setting<Readonly<Record<string, T>>> {
  return {
    default: Object.freeze({}),
    description,
    secret: false,
    allowed: what,
    parse: (raw) => {
      const s = structured(raw, what);
      if ('ok' in s) return s;
      return run(() => {
        if (s.value === null || s.value === undefined) return Object.freeze({});
        if (!isMapping(s.value)) throw new FieldError('', `must be ${what}`);
        // fromEntries defines each key as its own property, even one named __proto__.
        return deepFreeze(
          Object.fromEntries(Object.entries(s.value).map(([name, v]) => [name, entry(name, v, keyPath(name))])),
        );
      });
    },
  };
}

/** `llm_aliases`: a mapping of alias name to `{strategy, deployments, delegate}`. */
export function llmAliases(description: string): Setting<Readonly<Record<string, ConfiguredAlias>>> {
  return mappingSetting(description, 'a mapping of alias names to {strategy, deployments, delegate}', alias);
}

/** `llm_prices`: a mapping of model name to `{input_per_mtok, output_per_mtok, context_window}`. */
export function llmPrices(description: string): Setting<Readonly<Record<string, ConfiguredPrice>>> {
  return mappingSetting(
    description,
    'a mapping of model names to {input_per_mtok, output_per_mtok, context_window}',
    (model, v, at) => {
      if (model.length > 200) throw new FieldError(at, 'must be a model name of at most 200 characters');
      const m = mapping(v, at, ['input_per_mtok', 'output_per_mtok', 'context_window'], 'price fields');
      const context_window = optionalInt(m.context_window, `${at}.context_window`, 1, 100_000_000);
      return {
        input_per_mtok: number(m.input_per_mtok, `${at}.input_per_mtok`, 0, 100_000),
        output_per_mtok: number(m.output_per_mtok, `${at}.output_per_mtok`, 0, 100_000),
        ...(context_window !== undefined ? { context_window } : {}),
      };
    },
  );
}
