/** Row shapes of the LLM tables. Times are ISO-8601 text, booleans 0/1, JSON as text. */
export interface LlmProvidersTable {
  id: string;
  name: string;
  kind: string;
  base_url: string;
  /** Sealed with the master key (SecretBox); null when the provider needs none. */
  api_key: string | null;
  /** JSON array of model names offered without asking the provider. */
  models: string;
  enabled: number;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface ModelAliasesTable {
  alias: string;
  strategy: string;
  /** JSON array of deployments `{ provider, model, weight?, rpm?, tpm? }`, in fallback order. */
  deployments: string;
  /** JSON `{ try, escalate_to, check }` or null. */
  delegate: string | null;
  updated_by: string | null;
  updated_at: string;
}

export interface ModelPricesTable {
  model: string;
  input_per_mtok: number;
  output_per_mtok: number;
  context_window: number | null;
  updated_by: string | null;
  updated_at: string;
}

export interface LlmUsageTable {
  id: string;
  user_id: string;
  api_key_id: string | null;
  agent_id: string | null;
  run_id: string | null;
  step_id: string | null;
  /** chat | embeddings */
  kind: string;
  provider: string | null;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number;
  latency_ms: number;
  ttft_ms: number | null;
  cache_hit: number;
  stream: number;
  /** ok | error | cancelled */
  outcome: string;
  error_code: string | null;
  created_at: string;
}

export interface BudgetsTable {
  id: string;
  scope: string;
  subject_id: string;
  /** `subject_id` again when the scope is `user` (else null): the foreign key that deletes the budget with the user. */
  user_id: string | null;
  /** `subject_id` again when the scope is `api_key` (else null): deleted with the key (and so with its user). */
  api_key_id: string | null;
  period: string;
  max_tokens: number | null;
  max_cost: number | null;
  max_request_tokens: number | null;
  set_by: string;
  created_at: string;
  updated_at: string;
}

export interface LlmTables {
  llm_providers: LlmProvidersTable;
  model_aliases: ModelAliasesTable;
  model_prices: ModelPricesTable;
  llm_usage: LlmUsageTable;
  budgets: BudgetsTable;
}
