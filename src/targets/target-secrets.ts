import { AppError, invalid } from '../errors/index.js';
import { mapSealed } from '../secrets/sealed-values.js';
import { SecretBox } from '../secrets/secret-box.js';
import type { TargetType } from './target-config.js';

type Json = Record<string, unknown>;

const isSetMarker = (v: unknown) =>
  !!v && typeof v === 'object' && (v as Json).set === true && Object.keys(v as Json).length === 1;

/** Paths (keys from the config root) of the secret fields a config of this type has or needs. */
function secretSlots(type: TargetType, config: Json): string[][] {
  if (type !== 'http') return [];
  const slots: string[][] = Object.keys((config.headers as Json | undefined) ?? {}).map((h) => ['headers', h]);
  const auth = config.auth as Json | undefined;
  const field = { bearer: 'token', basic: 'password', header: 'value' }[String(auth?.type)];
  if (field) slots.push(['auth', field]);
  return slots;
}

function getAt(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[p];
  }
  return cur;
}

function setAt(obj: Json, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) cur = cur[p] as Json;
  cur[path[path.length - 1]!] = value;
}

/**
 * The config as stored: every secret sealed. A secret omitted or sent back as `{ "set": true }`
 * keeps the value already stored at the same place (for auth, only when the auth type is the same).
 */
export function sealConfig(type: TargetType, input: Json, box: SecretBox, previous?: Json): Json {
  const out = structuredClone(input);
  for (const path of secretSlots(type, out)) {
    const value = getAt(out, path);
    if (typeof value === 'string') {
      setAt(out, path, box.seal(value));
      continue;
    }
    const sameAuth = path[0] !== 'auth' || getAt(previous, ['auth', 'type']) === getAt(out, ['auth', 'type']);
    const kept = sameAuth ? getAt(previous, path) : undefined;
    if ((value === undefined || isSetMarker(value)) && SecretBox.isSealed(kept)) {
      setAt(out, path, kept);
      continue;
    }
    throw invalid(`/config/${path.join('/')}`, 'is required (no value is stored yet)');
  }
  return out;
}

/** The config with secrets opened, for a run. */
export function openConfig(stored: Json, box: SecretBox): Json {
  try {
    return mapSealed(stored, (s) => box.open(s)) as Json;
  } catch {
    throw new AppError('SECRET_UNREADABLE');
  }
}

/** The config as the API shows it: each secret replaced by `{ "set": true }`, plus the list of their paths. */
export function redactConfig(stored: Json): { config: Json; secrets_set: string[] } {
  const secrets: string[] = [];
  const walk = (value: unknown, path: string[]): unknown => {
    if (SecretBox.isSealed(value)) {
      secrets.push(`/${path.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`);
      return { set: true };
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, String(i)]));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, [...path, k])]));
    }
    return value;
  };
  return { config: walk(stored, []) as Json, secrets_set: secrets };
}
