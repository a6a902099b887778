import { Type, type Static, type TSchema } from 'typebox';
import { Nullable, PageQuery, StrictObject, Timestamp } from '../http/schemas.js';
import { targetTypes, type TargetType } from '../targets/target-config.js';
import { Description, EntityName } from '../targets/target.js';

/** Request fields that may be cleared: null is tried first, so body coercion never turns it into 0. */
const NullFirst = <T extends TSchema>(schema: T) => Type.Union([Type.Null(), schema]);

const TargetTypeSchema = Type.Unsafe<TargetType>(Type.String({ enum: [...targetTypes] }));
const TaskType = Type.String({ minLength: 1, maxLength: 100 });
const JsonObject = Type.Record(Type.String(), Type.Unknown());

export const Capability = Type.Object({
  id: Type.String({ description: 'a UUID, or `system:<task type>` for built-in ones' }),
  name: Type.String(),
  description: Type.String(),
  system: Type.Boolean(),
  task_type: Type.String(),
  target_types: Type.Array(Type.String()),
  requires_agent: Type.Boolean(),
  input_schema: JsonObject,
  defaults: JsonObject,
  estimated_ms: Nullable(Type.Integer()),
  created_at: Nullable(Timestamp),
  updated_at: Nullable(Timestamp),
});
export type Capability = Static<typeof Capability>;

export const CreateCapabilityBody = StrictObject({
  name: EntityName,
  description: Type.Optional(Description),
  task_type: TaskType,
  target_types: Type.Optional(Type.Array(TargetTypeSchema, { maxItems: 10, uniqueItems: true })),
  input_schema: Type.Optional(JsonObject),
  defaults: Type.Optional(JsonObject),
  estimated_ms: Type.Optional(NullFirst(Type.Integer({ minimum: 0, maximum: 86_400_000 }))),
});
export type CreateCapabilityBody = Static<typeof CreateCapabilityBody>;

export const PatchCapabilityBody = StrictObject(
  {
    name: Type.Optional(EntityName),
    description: Type.Optional(Description),
    task_type: Type.Optional(TaskType),
    target_types: Type.Optional(Type.Array(TargetTypeSchema, { maxItems: 10, uniqueItems: true })),
    input_schema: Type.Optional(JsonObject),
    defaults: Type.Optional(JsonObject),
    estimated_ms: Type.Optional(NullFirst(Type.Integer({ minimum: 0, maximum: 86_400_000 }))),
  },
  { minProperties: 1 },
);
export type PatchCapabilityBody = Static<typeof PatchCapabilityBody>;

export const CapabilityListQuery = StrictObject({
  ...PageQuery,
  task_type: Type.Optional(TaskType),
  system: Type.Optional(Type.Boolean()),
  target_type: Type.Optional(TargetTypeSchema),
  q: Type.Optional(Type.String({ maxLength: 100, description: 'name contains (case-insensitive)' })),
});
export type CapabilityListQuery = Static<typeof CapabilityListQuery>;

export const CheckBody = StrictObject({
  capability: Type.String({ minLength: 1, maxLength: 200, description: 'id or name' }),
  agent: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'id or name' })),
  target: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'id or name' })),
});

export const CheckResult = Type.Object({
  ok: Type.Boolean(),
  reason: Type.Optional(Type.String()),
  code: Type.Optional(Type.String()),
});
export type CompatibilityResult = { ok: true } | { ok: false; reason: string; code: string };

/** What the compatibility check needs to know about agents and targets (given by app.ts). */
export interface CompatibilityLookups {
  agent(userId: string, ref: string): Promise<{ id: string; name: string; capabilities: string[] } | undefined>;
  target(userId: string, ref: string): Promise<{ id: string; name: string; type: string } | undefined>;
}

export interface CompatibilityQuery {
  userId: string;
  capability: string | Capability;
  /** An agent id or name, or an agent already resolved. */
  agent?: string | { id: string; name: string; capabilities: string[] } | undefined;
  /** A target id or name, or a target already resolved. */
  target?: string | { id: string; name: string; type: string } | undefined;
}
