import { Type, type Static } from 'typebox';
import { Nullable, PageQuery, StrictObject, Timestamp } from '../http/schemas.js';
import {
  targetTypes,
  type FilesystemTargetConfig,
  type HttpTargetConfig,
  type ShellTargetConfig,
  type TargetType,
} from './target-config.js';

export const targetStatuses = ['connected', 'disconnected', 'error'] as const;
export type TargetStatus = (typeof targetStatuses)[number];

/** Names double as references (`target: tracker` in a workflow), so they stay simple. */
export const EntityName = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9 _.-]*$' });
export const Description = Type.String({ maxLength: 2000 });
export const SortQuery = {
  sort: Type.Optional(Type.Union([Type.Literal('name'), Type.Literal('created_at'), Type.Literal('updated_at')])),
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
};

const TargetTypeSchema = Type.Unsafe<TargetType>(Type.String({ enum: [...targetTypes] }));
const ConfigBody = Type.Record(Type.String(), Type.Unknown(), {
  description: 'The config of the target type (see docs/targets.md); secrets are write-only',
});

export const Target = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  type: TargetTypeSchema,
  config: Type.Record(Type.String(), Type.Unknown(), { description: 'secret values appear as { "set": true }' }),
  secrets_set: Type.Array(Type.String(), { description: 'JSON pointers of the secrets that are set' }),
  status: Type.Unsafe<TargetStatus>(Type.String({ enum: [...targetStatuses] })),
  last_activity_at: Nullable(Timestamp),
  last_tested_at: Nullable(Timestamp),
  last_error: Nullable(Type.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type Target = Static<typeof Target>;

export const CreateTargetBody = StrictObject({
  name: EntityName,
  description: Type.Optional(Description),
  type: TargetTypeSchema,
  config: ConfigBody,
});
export type CreateTargetBody = Static<typeof CreateTargetBody>;

export const PatchTargetBody = StrictObject(
  { name: Type.Optional(EntityName), description: Type.Optional(Description), config: Type.Optional(ConfigBody) },
  { minProperties: 1 },
);
export type PatchTargetBody = Static<typeof PatchTargetBody>;

export const TargetListQuery = StrictObject({
  ...PageQuery,
  ...SortQuery,
  type: Type.Optional(TargetTypeSchema),
  status: Type.Optional(Type.Unsafe<TargetStatus>(Type.String({ enum: [...targetStatuses] }))),
  q: Type.Optional(Type.String({ maxLength: 100, description: 'name contains (case-insensitive)' })),
});
export type TargetListQuery = Static<typeof TargetListQuery>;

export const TargetTestResult = Type.Object({
  ok: Type.Boolean(),
  status: Type.Unsafe<TargetStatus>(Type.String({ enum: [...targetStatuses] })),
  message: Type.String(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  duration_ms: Type.Integer(),
  tested_at: Timestamp,
});
export type TargetTestResult = Static<typeof TargetTestResult>;

/** A target with its secrets opened, for a run (never sent over the API). */
export type ResolvedTarget =
  | { id: string; name: string; type: 'filesystem'; config: FilesystemTargetConfig }
  | { id: string; name: string; type: 'http'; config: HttpTargetConfig }
  | { id: string; name: string; type: 'shell'; config: ShellTargetConfig }
  | { id: string; name: string; type: 'mcp'; config: Record<string, unknown> };
