import { Type, type Static } from 'typebox';
import { Nullable, StrictObject, Timestamp } from '../http/schemas.js';
import type { CancelSignal } from './call-cancel.js';

/**
 * Domain types of the LLM layer. Requests and answers use the OpenAI chat.completions shapes, the
 * lingua franca every provider is translated to and from.
 */

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | null | Array<Record<string, unknown>>;
  name?: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
  [extra: string]: unknown;
}

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

/** A check the cheaper model's answer must pass before it is accepted (see delegation). */
export type DelegateCheck = 'non_empty' | 'json' | { contains: string } | { cel: string };

export interface DelegateSpec {
  try: string;
  escalate_to: string;
  check?: DelegateCheck;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  tools?: ChatTool[];
  tool_choice?: unknown;
  response_format?: { type: string; [k: string]: unknown };
  temperature?: number | null;
  top_p?: number | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  stop?: string | string[] | null;
  /** Clarion extension: try a cheaper alias first, escalate when the answer fails the check. */
  delegate?: DelegateSpec;
  /** Clarion extension: false skips the response cache for this call. */
  cache?: boolean;
  [extra: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [extra: string]: unknown;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; tool_calls?: ChatToolCall[]; [k: string]: unknown };
    finish_reason: string | null;
    logprobs?: unknown;
  }>;
  usage?: Usage;
  [extra: string]: unknown;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: {
      role?: 'assistant';
      content?: string | null;
      tool_calls?: Array<{
        index: number;
        id?: string;
        type?: 'function';
        function?: { name?: string; arguments?: string };
      }>;
      [k: string]: unknown;
    };
    finish_reason: string | null;
    logprobs?: unknown;
  }>;
  usage?: Usage | null;
  [extra: string]: unknown;
}

export interface EmbedRequest {
  model: string;
  input: string | string[];
  dimensions?: number;
}

export interface EmbedResult {
  data: number[][];
  model: string;
  usage: { prompt_tokens: number };
}

export interface LlmCallContext {
  userId: string;
  apiKeyId?: string;
  agentId?: string;
  runId?: string;
  stepId?: string;
  /** Cancels the call: a run's or a chat's AbortSignal, or a gateway call's CallCancel. */
  signal?: CancelSignal;
  idempotencyKey?: string;
}

/** What a call reports back besides the answer (the gateway turns it into headers). */
export interface CallInfo {
  cache: 'hit' | 'miss' | 'off';
  provider?: string;
  model?: string;
}

export const providerKinds = ['openai', 'anthropic', 'ollama'] as const;
export type ProviderKind = (typeof providerKinds)[number];
export const routingStrategies = ['fallback', 'round_robin', 'least_busy', 'lowest_latency'] as const;
export type RoutingStrategy = (typeof routingStrategies)[number];

/** One place a model can be served from; an alias lists several. */
export interface Deployment {
  provider: string;
  model: string;
  weight?: number;
  rpm?: number;
  tpm?: number;
}

/** A provider as the rest of Clarion sees it; the key is opened only inside the LLM layer. */
export interface ProviderConfig {
  id: string;
  name: string;
  kind: ProviderKind;
  base_url: string;
  api_key?: string;
  models: string[];
  enabled: boolean;
  /**
   * `api` providers are stored; `config` ones come from `llm_providers` in the configuration and `env` ones
   * from OPENAI_API_KEY etc. at start; those two live only in memory and are read-only over the API.
   */
  source: 'api' | 'config' | 'env';
}

// ---- HTTP schemas -------------------------------------------------------------------------------

const KindSchema = Type.Union([Type.Literal('openai'), Type.Literal('anthropic'), Type.Literal('ollama')]);
const StrategySchema = Type.Union([
  Type.Literal('fallback'),
  Type.Literal('round_robin'),
  Type.Literal('least_busy'),
  Type.Literal('lowest_latency'),
]);
const ScopeSchema = Type.Union([Type.Literal('user'), Type.Literal('api_key')]);
const PeriodSchema = Type.Union([Type.Literal('day'), Type.Literal('month')]);
const ProviderName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9._-]*$' });
const BaseUrl = Type.String({ minLength: 1, maxLength: 500, pattern: '^https?://' });
const ModelName = Type.String({ minLength: 1, maxLength: 200 });

export const Provider = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: KindSchema,
  base_url: Type.String(),
  api_key_set: Type.Boolean(),
  models: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  source: Type.Union([Type.Literal('api'), Type.Literal('config'), Type.Literal('env')]),
  created_by: Nullable(Type.String()),
  created_at: Nullable(Timestamp),
  updated_at: Nullable(Timestamp),
});
export type Provider = Static<typeof Provider>;

export const CreateProviderBody = StrictObject({
  name: ProviderName,
  kind: KindSchema,
  base_url: BaseUrl,
  api_key: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
  models: Type.Optional(Type.Array(ModelName, { maxItems: 500 })),
  enabled: Type.Optional(Type.Boolean()),
});
export type CreateProviderBody = Static<typeof CreateProviderBody>;

export const UpdateProviderBody = StrictObject({
  name: Type.Optional(ProviderName),
  base_url: Type.Optional(BaseUrl),
  /** A new key; null removes it. */
  api_key: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 1000 }))),
  models: Type.Optional(Type.Array(ModelName, { maxItems: 500 })),
  enabled: Type.Optional(Type.Boolean()),
});
export type UpdateProviderBody = Static<typeof UpdateProviderBody>;

export const DeploymentSchema = StrictObject({
  provider: ProviderName,
  model: ModelName,
  weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  rpm: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
  tpm: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
});

const CheckSchema = Type.Union([
  Type.Literal('non_empty'),
  Type.Literal('json'),
  StrictObject({ contains: Type.String({ minLength: 1, maxLength: 1000 }) }),
  StrictObject({ cel: Type.String({ minLength: 1, maxLength: 2000 }) }),
]);

export const DelegateSchema = StrictObject({
  try: Type.String({ minLength: 1, maxLength: 200 }),
  escalate_to: Type.String({ minLength: 1, maxLength: 200 }),
  check: Type.Optional(CheckSchema),
});

export const ModelAlias = Type.Object({
  alias: Type.String(),
  strategy: StrategySchema,
  deployments: Type.Array(
    Type.Object({
      provider: Type.String(),
      model: Type.String(),
      weight: Type.Optional(Type.Integer()),
      rpm: Type.Optional(Type.Integer()),
      tpm: Type.Optional(Type.Integer()),
    }),
  ),
  delegate: Nullable(Type.Object({ try: Type.String(), escalate_to: Type.String(), check: Type.Optional(Type.Any()) })),
  /** `config` aliases come from `llm_aliases` and cannot be deleted over the API; a stored one of the same name wins. */
  source: Type.Union([Type.Literal('api'), Type.Literal('config')]),
  updated_by: Nullable(Type.String()),
  updated_at: Timestamp,
});
export type ModelAlias = Static<typeof ModelAlias>;

export const PutAliasBody = StrictObject({
  strategy: Type.Optional(StrategySchema),
  deployments: Type.Array(DeploymentSchema, { maxItems: 50 }),
  delegate: Type.Optional(Nullable(DelegateSchema)),
});
export type PutAliasBody = Static<typeof PutAliasBody>;

export const AliasParams = StrictObject({
  alias: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
});

export const ModelPrice = Type.Object({
  model: Type.String(),
  input_per_mtok: Type.Number(),
  output_per_mtok: Type.Number(),
  context_window: Nullable(Type.Integer()),
  /** `override` is set over the API (wins), `config` comes from `llm_prices`, `builtin` from src/llm/prices.ts. */
  source: Type.Union([Type.Literal('builtin'), Type.Literal('config'), Type.Literal('override')]),
});
export type ModelPrice = Static<typeof ModelPrice>;

export const PutPriceBody = StrictObject({
  input_per_mtok: Type.Number({ minimum: 0, maximum: 100000 }),
  output_per_mtok: Type.Number({ minimum: 0, maximum: 100000 }),
  context_window: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 100_000_000 }))),
});
export type PutPriceBody = Static<typeof PutPriceBody>;

export const budgetScopes = ['user', 'api_key'] as const;
export const budgetPeriods = ['day', 'month'] as const;
export type BudgetScope = (typeof budgetScopes)[number];
export type BudgetPeriod = (typeof budgetPeriods)[number];

export const Budget = Type.Object({
  id: Type.String(),
  scope: ScopeSchema,
  subject_id: Type.String(),
  period: PeriodSchema,
  max_tokens: Nullable(Type.Integer()),
  max_cost: Nullable(Type.Number()),
  max_request_tokens: Nullable(Type.Integer()),
  used_tokens: Type.Integer(),
  used_cost: Type.Number(),
  /** Estimates held by calls in flight in this process (released when they end). */
  reserved_tokens: Type.Integer(),
  reserved_cost: Type.Number(),
  set_by: Type.String(),
  updated_at: Timestamp,
});
export type Budget = Static<typeof Budget>;

export const PutBudgetBody = StrictObject({
  scope: ScopeSchema,
  subject_id: Type.String({ minLength: 1, maxLength: 100 }),
  period: PeriodSchema,
  max_tokens: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 1e12 }))),
  max_cost: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1e9 }))),
  /** Ceiling on `max_tokens` of one request. */
  max_request_tokens: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 10_000_000 }))),
});
export type PutBudgetBody = Static<typeof PutBudgetBody>;

export const UsageRecord = Type.Object({
  id: Type.String(),
  user_id: Type.String(),
  api_key_id: Nullable(Type.String()),
  agent_id: Nullable(Type.String()),
  run_id: Nullable(Type.String()),
  step_id: Nullable(Type.String()),
  kind: Type.String(),
  provider: Nullable(Type.String()),
  model: Type.String(),
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  cost: Type.Number(),
  latency_ms: Type.Number(),
  ttft_ms: Nullable(Type.Number()),
  cache_hit: Type.Boolean(),
  stream: Type.Boolean(),
  outcome: Type.String(),
  error_code: Nullable(Type.String()),
  created_at: Timestamp,
});
export type UsageRecord = Static<typeof UsageRecord>;

export const UsageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
  cursor: Type.Optional(Type.String({ maxLength: 500 })),
  /** `all` needs analytics:read. */
  user_id: Type.Optional(Type.String({ maxLength: 100 })),
  all: Type.Optional(Type.Boolean()),
  since: Type.Optional(Timestamp),
});

export const ModelInfo = Type.Object({
  id: Type.String(),
  provider: Type.String(),
  model: Type.String(),
  healthy: Type.Boolean(),
  error: Type.Optional(Type.String()),
  context_window: Nullable(Type.Integer()),
});
export type ModelInfo = Static<typeof ModelInfo>;

export const ProviderHealth = Type.Object({
  provider: Type.String(),
  healthy: Type.Boolean(),
  models: Type.Array(Type.String()),
  latency_ms: Type.Number(),
  error: Type.Optional(Type.String()),
});
export type ProviderHealth = Static<typeof ProviderHealth>;
