import { Type, type Static } from 'typebox';

/** `30s`, `500ms`, `15m`, `2h`, or a number of milliseconds. */
const Duration = Type.Union(
  [Type.String({ pattern: '^\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?$' }), Type.Integer({ minimum: 0 })],
  {
    description: 'a duration such as 500ms, 30s, 15m, 2h, or a number of milliseconds',
  },
);

const StepId = Type.String({
  pattern: '^[a-z_][a-z0-9_-]{0,63}$',
  description: 'lower-case letters, digits, _ and -; unique in the workflow',
});

export const RetryPolicy = Type.Object(
  {
    max_attempts: Type.Integer({ minimum: 1, maximum: 50, description: 'attempts in total, the first included' }),
    backoff: Type.Optional(Type.Union([Type.Literal('fixed'), Type.Literal('exponential')])),
    delay: Type.Optional(Duration),
    max_delay: Type.Optional(Duration),
    jitter: Type.Optional(Type.Boolean({ description: 'randomise each delay by up to ±50% (default true)' })),
    on: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'retry only errors with these codes (default: every error not marked fatal)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ApprovalWait = Type.Object(
  {
    approval: Type.Object(
      {
        message: Type.Optional(Type.String({ maxLength: 2000 })),
      },
      { additionalProperties: false },
    ),
    timeout: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const StepDefinition = Type.Object(
  {
    id: StepId,
    name: Type.Optional(Type.String({ maxLength: 200 })),
    uses: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'a task type (e.g. http.request) or the name of one of your capabilities',
      }),
    ),
    agent: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    with: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    needs: Type.Optional(Type.Array(StepId, { uniqueItems: true })),
    if: Type.Optional(Type.String({ minLength: 1, maxLength: 4000 })),
    foreach: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 4000 }), Type.Array(Type.Unknown())])),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'foreach items at once' })),
    retry: Type.Optional(RetryPolicy),
    timeout: Type.Optional(Duration),
    continue_on_error: Type.Optional(Type.Boolean()),
    wait: Type.Optional(Type.Union([Duration, ApprovalWait])),
  },
  { additionalProperties: false },
);

export const InputDefinition = Type.Object(
  {
    type: Type.Union(['string', 'number', 'integer', 'boolean', 'object', 'array'].map((t) => Type.Literal(t))),
    required: Type.Optional(Type.Boolean()),
    default: Type.Optional(Type.Unknown()),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);

/** The one published JSON Schema of a workflow definition (`GET /api/v1/workflows/schema`). */
export const WorkflowDefinitionSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$' }),
    description: Type.Optional(Type.String({ maxLength: 4000 })),
    inputs: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), InputDefinition)),
    steps: Type.Array(StepDefinition, { minItems: 1 }),
    on_failure: Type.Optional(Type.Array(StepDefinition, { description: 'steps run when the run fails' })),
    outputs: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'runs of it at once' })),
    timeout: Type.Optional(Duration),
  },
  {
    additionalProperties: false,
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Clarion workflow definition',
  },
);

export type StepDefinition = Static<typeof StepDefinition>;
export type WorkflowDefinition = Static<typeof WorkflowDefinitionSchema>;
export type InputDefinition = Static<typeof InputDefinition>;
export type RetryPolicy = Static<typeof RetryPolicy>;
