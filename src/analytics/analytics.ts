import { Type, type Static } from 'typebox';
import { Nullable, StrictObject } from '../http/schemas.js';

export const SummaryQuery = StrictObject({
  since: Type.Optional(Type.String({ format: 'date-time', description: 'start of the window (default: 30 days ago)' })),
});

export const Summary = Type.Object({
  since: Type.String(),
  active_agents: Type.Integer({ description: 'agents that ran a step in the window' }),
  agents: Type.Integer({ description: 'agents you own' }),
  target_systems: Type.Integer(),
  runs_today: Type.Integer(),
  total_runs: Type.Integer({ description: 'runs started in the window' }),
  success_rate: Nullable(Type.Number({ description: 'completed / finished runs in the window, 0..1' })),
  avg_duration_ms: Nullable(Type.Number()),
  p95_duration_ms: Nullable(Type.Number()),
  step_attempts: Type.Integer(),
  top_capabilities: Type.Array(
    Type.Object({
      capability: Type.String(),
      attempts: Type.Integer(),
      failures: Type.Integer(),
      avg_duration_ms: Nullable(Type.Number()),
    }),
  ),
});
export type Summary = Static<typeof Summary>;

export const TimeseriesQuery = StrictObject({
  bucket: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day')])),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  until: Type.Optional(Type.String({ format: 'date-time' })),
  agent: Type.Optional(Type.String({ maxLength: 200 })),
  workflow: Type.Optional(Type.String({ maxLength: 200, description: 'workflow id' })),
  capability: Type.Optional(Type.String({ maxLength: 200, description: 'task type or capability used by a step' })),
});
export type TimeseriesQuery = Static<typeof TimeseriesQuery>;

export const Timeseries = Type.Object({
  bucket: Type.String(),
  points: Type.Array(
    Type.Object({
      t: Type.String(),
      runs: Type.Integer(),
      failures: Type.Integer(),
      tokens: Type.Integer(),
      cost: Type.Number(),
    }),
  ),
});
export type Timeseries = Static<typeof Timeseries>;
