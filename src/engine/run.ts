import { Type, type Static } from 'typebox';
import { Nullable, PageQuery, StrictObject, Timestamp } from '../http/schemas.js';

const Json = Type.Unknown();

export const RunSummary = Type.Object({
  id: Type.String(),
  workflow_id: Type.String(),
  workflow_name: Type.Optional(Type.String()),
  workflow_version: Type.Integer(),
  status: Type.String(),
  trigger: Type.String(),
  inputs: Json,
  outputs: Json,
  error: Json,
  parent_run_id: Nullable(Type.String()),
  created_at: Timestamp,
  started_at: Nullable(Timestamp),
  finished_at: Nullable(Timestamp),
  duration_ms: Nullable(Type.Integer()),
});
export type RunSummary = Static<typeof RunSummary>;

export const StepAttempt = Type.Object({
  attempt: Type.Integer(),
  status: Type.String(),
  idempotency_key: Type.String(),
  input: Json,
  output: Json,
  error: Json,
  started_at: Timestamp,
  finished_at: Nullable(Timestamp),
  duration_ms: Nullable(Type.Integer()),
});

export const RunStep = Type.Object({
  key: Type.String(),
  id: Type.String(),
  item_index: Nullable(Type.Integer()),
  status: Type.String(),
  attempts: Type.Array(StepAttempt),
  output: Json,
  error: Json,
  waiting_for: Json,
  next_attempt_at: Nullable(Timestamp),
  started_at: Nullable(Timestamp),
  finished_at: Nullable(Timestamp),
});

export const RunDetail = Type.Object({ ...RunSummary.properties, steps: Type.Array(RunStep) });
export type RunDetail = Static<typeof RunDetail>;

export const StartRunBody = StrictObject({
  inputs: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

export const RunListQuery = StrictObject({
  ...PageQuery,
  workflow: Type.Optional(Type.String({ maxLength: 200, description: 'workflow id or name' })),
  status: Type.Optional(
    Type.Union(['queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'].map((s) => Type.Literal(s))),
  ),
  since: Type.Optional(Type.String({ format: 'date-time' })),
});

export const RunEventSchema = Type.Object({
  run_id: Type.String(),
  workflow_id: Type.String(),
  seq: Type.Integer(),
  type: Type.String(),
  step: Nullable(Type.String()),
  data: Json,
  at: Timestamp,
});

export const DecisionBody = StrictObject({ comment: Type.Optional(Type.String({ maxLength: 2000 })) });
