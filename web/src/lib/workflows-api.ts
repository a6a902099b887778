import { api, qs, type Page } from './api';

export interface WorkflowSummary {
  id: string;
  name: string;
  description: string;
  version: number;
  created_at: string;
  updated_at: string;
}
export interface Workflow extends WorkflowSummary {
  definition: Record<string, unknown>;
  source: string;
}
export interface WorkflowVersion {
  workflow_id: string;
  version: number;
  definition: Record<string, unknown>;
  source: string;
  created_by: string;
  created_at: string;
}
export interface WorkflowIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
  step?: string;
}
export interface Run {
  id: string;
  workflow_id: string;
  workflow_name?: string;
  workflow_version: number;
  status: string;
  inputs: Record<string, unknown> | null;
  outputs: Record<string, unknown> | null;
  error: { code?: string; message?: string } | null;
  trigger?: string;
  parent_run_id?: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms?: number | null;
}
export interface StepAttempt {
  attempt: number;
  status: string;
  input: unknown;
  output: unknown;
  error: { code?: string; message?: string } | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
}
export interface RunStep {
  key: string;
  id: string;
  item_index: number | null;
  status: string;
  attempts: StepAttempt[];
  output: unknown;
  error: { code?: string; message?: string } | null;
  /** What a waiting step waits for: `{ approval: { message } }` or a time. */
  waiting_for: unknown;
  next_attempt_at: string | null;
  started_at: string | null;
  finished_at: string | null;
}
export interface RunDetail extends Run {
  steps: RunStep[];
}

export const workflowsApi = {
  list: (q?: string) => api.get<Page<WorkflowSummary>>(`/api/v1/workflows${qs({ limit: 100, q })}`),
  get: (id: string) => api.get<Workflow>(`/api/v1/workflows/${encodeURIComponent(id)}`),
  create: (source: string) => api.post<Workflow>('/api/v1/workflows', { source }),
  update: (id: string, source: string) => api.put<Workflow>(`/api/v1/workflows/${encodeURIComponent(id)}`, { source }),
  remove: (id: string) => api.delete(`/api/v1/workflows/${encodeURIComponent(id)}`),
  versions: (id: string) =>
    api.get<Page<WorkflowVersion> | { items: WorkflowVersion[] }>(
      `/api/v1/workflows/${encodeURIComponent(id)}/versions`,
    ),
  validate: (source: string) =>
    api.post<{ valid: boolean; issues: WorkflowIssue[] }>('/api/v1/workflows/validate', { source }),
  /** One idempotency key per press of "Start run": a retried request never starts a second run. */
  run: (id: string, inputs: Record<string, unknown>, idempotencyKey: string) =>
    api.post<{ run_id: string; status: string; created: boolean }>(
      `/api/v1/workflows/${encodeURIComponent(id)}/runs`,
      { inputs },
      { 'idempotency-key': idempotencyKey },
    ),
};

/** Issues a failed save carries: `details.issues` (each with its line) or the one offending field. */
export function issuesOf(err: unknown): WorkflowIssue[] {
  const d = (err as { details?: { issues?: WorkflowIssue[]; field?: string } } | undefined)?.details;
  if (Array.isArray(d?.issues)) return d.issues;
  if (typeof d?.field === 'string') return [{ path: d.field, message: (err as Error).message }];
  return [];
}
