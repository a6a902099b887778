/** Row shapes of workflows, their versions, runs, step state, attempts, events, jobs, schedules and hooks. */
export interface WorkflowsTable {
  id: string;
  user_id: string;
  name: string;
  description: string;
  /** Version number of the newest definition. */
  version: number;
  created_at: string;
  updated_at: string;
}

export interface WorkflowVersionsTable {
  workflow_id: string;
  version: number;
  /** The definition as parsed (JSON). */
  definition: string;
  /** The text the user sent (YAML or JSON), kept for display. */
  source: string;
  format: string;
  created_by: string;
  created_at: string;
}

export interface RunsTable {
  id: string;
  user_id: string;
  workflow_id: string;
  workflow_version: number;
  status: string;
  inputs: string;
  outputs: string | null;
  error: string | null;
  trigger: string;
  idempotency_key: string | null;
  parent_run_id: string | null;
  parent_step_key: string | null;
  depth: number;
  cancel_requested: number;
  /** Last event sequence number given out for this run. */
  event_seq: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  duration_ms: number | null;
}

export interface RunStepsTable {
  run_id: string;
  /** `id`, or `id#index` for one item of a foreach step. */
  step_key: string;
  step_id: string;
  item_index: number;
  status: string;
  attempts: number;
  /** Attempts made before the last manual retry: the retry policy counts from here. */
  attempt_base: number;
  output: string | null;
  error: string | null;
  next_attempt_at: string | null;
  approval: string | null;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

export interface StepAttemptsTable {
  id: string;
  run_id: string;
  user_id: string;
  workflow_id: string;
  step_key: string;
  step_id: string;
  attempt: number;
  status: string;
  task_type: string;
  agent: string | null;
  target: string | null;
  input: string | null;
  output: string | null;
  error: string | null;
  idempotency_key: string;
  worker_id: string;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
}

export interface RunEventsTable {
  run_id: string;
  seq: number;
  user_id: string;
  workflow_id: string;
  type: string;
  step_key: string | null;
  data: string;
  created_at: string;
}

export interface JobsTable {
  id: string;
  queue: string;
  /** Unique per queue among unfinished jobs: enqueueing the same key again only moves it earlier. */
  job_key: string;
  payload: string;
  status: string;
  available_at: string;
  lease_owner: string | null;
  lease_until: string | null;
  attempts: number;
  created_at: string;
  updated_at: string;
}

export interface WorkflowTriggersTable {
  id: string;
  user_id: string;
  workflow_id: string;
  kind: string;
  /** Cron expression of a schedule. */
  cron: string | null;
  timezone: string | null;
  /** Webhook token (the URL path) of a hook. */
  token: string | null;
  /** Sealed HMAC secret of a hook. */
  secret: string | null;
  inputs: string;
  enabled: number;
  /** The schedule's next due time; claimed by moving it forward in one UPDATE. */
  next_run_at: string | null;
  last_run_at: string | null;
  created_at: string;
}

export interface WorkflowTables {
  workflows: WorkflowsTable;
  workflow_versions: WorkflowVersionsTable;
  runs: RunsTable;
  run_steps: RunStepsTable;
  step_attempts: StepAttemptsTable;
  run_events: RunEventsTable;
  jobs: JobsTable;
  workflow_triggers: WorkflowTriggersTable;
}
