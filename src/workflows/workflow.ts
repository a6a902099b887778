import { Type, type Static } from 'typebox';
import { Nullable, PageQuery, StrictObject, Timestamp } from '../http/schemas.js';

export const WorkflowIssue = Type.Object({
  path: Type.String(),
  message: Type.String(),
  line: Type.Optional(Type.Integer()),
  column: Type.Optional(Type.Integer()),
  step: Type.Optional(Type.String()),
});

/** A definition is sent as text (`source`, YAML or JSON) or as a JSON object (`definition`). */
export const WorkflowBody = StrictObject({
  source: Type.Optional(Type.String({ minLength: 1, maxLength: 1_000_000, description: 'YAML or JSON text' })),
  definition: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type WorkflowBody = Static<typeof WorkflowBody>;

export const Workflow = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  version: Type.Integer(),
  definition: Type.Record(Type.String(), Type.Unknown()),
  source: Type.String(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type Workflow = Static<typeof Workflow>;

export const WorkflowSummary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  version: Type.Integer(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type WorkflowSummary = Static<typeof WorkflowSummary>;

export const WorkflowVersion = Type.Object({
  workflow_id: Type.String(),
  version: Type.Integer(),
  definition: Type.Record(Type.String(), Type.Unknown()),
  source: Type.String(),
  created_by: Type.String(),
  created_at: Timestamp,
});
export type WorkflowVersion = Static<typeof WorkflowVersion>;

export const WorkflowListQuery = StrictObject({
  ...PageQuery,
  q: Type.Optional(Type.String({ maxLength: 100, description: 'name contains' })),
});

export const ValidateResult = Type.Object({
  valid: Type.Boolean(),
  issues: Type.Array(WorkflowIssue),
  definition: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
});
