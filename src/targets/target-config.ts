import { Type, type Static, type TSchema } from 'typebox';
import Value from 'typebox/value';
import { invalid } from '../errors/index.js';
import { StrictObject } from '../http/schemas.js';

export const targetTypes = ['filesystem', 'http', 'shell', 'mcp'] as const;
export type TargetType = (typeof targetTypes)[number];
/** Types that can be created today; `mcp` is reserved. */
export const supportedTargetTypes: readonly TargetType[] = ['filesystem', 'http', 'shell'];

/** A secret left as it is on update: what a GET shows in its place, and what a client may send back. */
export const SecretSet = StrictObject({ set: Type.Literal(true) });
const SecretInput = Type.Union([Type.String({ minLength: 1, maxLength: 8192 }), SecretSet]);

const AbsolutePath = Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' });
const HeaderName = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";

export const FilesystemConfig = StrictObject({
  root: AbsolutePath,
  read_only: Type.Optional(Type.Boolean({ default: true })),
});

const authSchemas = {
  none: StrictObject({ type: Type.Literal('none') }),
  bearer: StrictObject({ type: Type.Literal('bearer'), token: Type.Optional(SecretInput) }),
  basic: StrictObject({
    type: Type.Literal('basic'),
    username: Type.String({ minLength: 1, maxLength: 256 }),
    password: Type.Optional(SecretInput),
  }),
  header: StrictObject({
    type: Type.Literal('header'),
    name: Type.String({ minLength: 1, maxLength: 256, pattern: HeaderName }),
    value: Type.Optional(SecretInput),
  }),
};
export const HttpAuth = Type.Union(Object.values(authSchemas));

export const HttpConfig = StrictObject({
  base_url: Type.String({ minLength: 8, maxLength: 2048, pattern: '^https?://' }),
  headers: Type.Optional(
    Type.Record(Type.String({ pattern: HeaderName, maxLength: 256 }), SecretInput, { maxProperties: 50 }),
  ),
  auth: Type.Optional(HttpAuth),
  allowed_hosts: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^(\\*\\.)?[A-Za-z0-9.:\\[\\]-]+$' }), {
      maxItems: 100,
    }),
  ),
  allow_private: Type.Optional(Type.Boolean({ default: false })),
  timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
  max_response_bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 * 1024 * 1024 })),
});

export const ShellConfig = StrictObject({
  cwd: AbsolutePath,
  allowed_programs: Type.Array(
    Type.String({ minLength: 1, maxLength: 4096, pattern: '^(/[^\\0]+|[A-Za-z0-9._+-]+)$' }),
    {
      minItems: 1,
      maxItems: 100,
    },
  ),
  env: Type.Optional(
    Type.Record(
      Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 256 }),
      Type.String({ maxLength: 8192 }),
      {
        maxProperties: 100,
      },
    ),
  ),
  timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
  max_output_bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 * 1024 * 1024 })),
});

/** The shapes a run sees (secrets opened). */
export interface FilesystemTargetConfig {
  root: string;
  read_only: boolean;
}
export type HttpTargetAuth =
  | { type: 'none' }
  | { type: 'bearer'; token: string }
  | { type: 'basic'; username: string; password: string }
  | { type: 'header'; name: string; value: string };
export interface HttpTargetConfig {
  base_url: string;
  headers?: Record<string, string>;
  auth?: HttpTargetAuth;
  allowed_hosts?: string[];
  allow_private?: boolean;
  timeout_ms?: number;
  max_response_bytes?: number;
}
export interface ShellTargetConfig {
  cwd: string;
  allowed_programs: string[];
  env?: Record<string, string>;
  timeout_ms?: number;
  max_output_bytes?: number;
}
export type TargetConfig = FilesystemTargetConfig | HttpTargetConfig | ShellTargetConfig | Record<string, unknown>;

const schemas = { filesystem: FilesystemConfig, http: HttpConfig, shell: ShellConfig } as const;
export type ConfigInput<T extends keyof typeof schemas> = Static<(typeof schemas)[T]>;

// Variables that would change which program runs or inject code into an allowed one.
const FORBIDDEN_ENV = /^(PATH|LD_.*|DYLD_.*|NODE_OPTIONS|BASH_ENV|ENV|IFS)$/;

function check(schema: TSchema, value: unknown, prefix: string): void {
  if (!Value.Check(schema, value)) {
    const first = [...Value.Errors(schema, value)].find((e) => e.keyword !== 'boolean' && e.keyword !== 'anyOf');
    const any = first ?? [...Value.Errors(schema, value)][0];
    let field = `${prefix}${any?.instancePath ?? ''}`;
    let message = any?.message ?? 'is not valid';
    const params = (any?.params ?? {}) as { additionalProperties?: string[]; requiredProperties?: string[] };
    if (any?.keyword === 'additionalProperties' && params.additionalProperties?.[0]) {
      field = `${field}/${params.additionalProperties[0]}`;
      message = 'is not an allowed field';
    } else if (any?.keyword === 'required' && params.requiredProperties?.[0]) {
      field = `${field}/${params.requiredProperties[0]}`;
      message = 'is required';
    }
    throw invalid(field, message);
  }
}

/** Checks a config against its type's schema; throws a 400 naming the first bad field under `/config`. */
export function checkConfig(type: 'filesystem' | 'http' | 'shell', config: unknown): Record<string, unknown> {
  const c = config as Record<string, unknown>;
  if (type === 'http' && c && typeof c === 'object') {
    // Check auth by its `type` first, so errors name the field rather than "matches no variant".
    const auth = c.auth as { type?: unknown } | undefined;
    if (auth && typeof auth === 'object') {
      const member = authSchemas[auth.type as keyof typeof authSchemas] as TSchema | undefined;
      if (!member) throw invalid('/config/auth/type', `must be one of ${Object.keys(authSchemas).join(', ')}`);
      check(member, auth, '/config/auth');
    }
  }
  check(schemas[type], config, '/config');
  if (type === 'http') {
    for (const name of Object.keys((c.headers as Record<string, unknown> | undefined) ?? {})) {
      if (!new RegExp(HeaderName).test(name)) throw invalid(`/config/headers/${name}`, 'is not a valid header name');
    }
    try {
      new URL(c.base_url as string);
    } catch {
      throw invalid('/config/base_url', 'is not a valid URL');
    }
  }
  if (type === 'shell') {
    for (const name of Object.keys((c.env as Record<string, string> | undefined) ?? {})) {
      if (FORBIDDEN_ENV.test(name)) throw invalid(`/config/env/${name}`, 'may not be set for a target');
    }
  }
  return Value.Default(schemas[type], structuredClone(config)) as Record<string, unknown>;
}
