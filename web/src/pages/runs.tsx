import { Activity } from 'lucide-react';
import { useSearchParams } from 'react-router-dom';
import { Link } from 'react-router-dom';
import { ResourceTable } from '../components/resource-list';
import { PageHeader, StatusBadge } from '../components/ui';
import { qs, type Page } from '../lib/api';
import { useGet } from '../lib/queries';
import { dateTime, duration, relativeTime } from '../lib/format';
import type { Run, WorkflowSummary } from '../lib/workflows-api';

const STATUSES = ['', 'queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'];

export default function Runs() {
  const [params, setParams] = useSearchParams();
  // Run summaries carry the workflow id; names come from the workflow list (one request, cached).
  const workflows = useGet<Page<WorkflowSummary>>('/api/v1/workflows?limit=500');
  const names = new Map((workflows.data?.items ?? []).map((w) => [w.id, w.name]));
  const status = params.get('status') ?? '';
  const workflow = params.get('workflow') ?? '';
  return (
    <div>
      <PageHeader
        title="Runs"
        description="Every run of every workflow, newest first."
        actions={
          <label className="flex items-center gap-2 text-sm">
            Status
            <select
              value={status}
              onChange={(e) => setParams(e.target.value ? { status: e.target.value } : {})}
              className="rounded-md border-0 py-1.5 text-sm ring-1 ring-slate-300 dark:bg-slate-900 dark:ring-slate-700"
            >
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s || 'any'}
                </option>
              ))}
            </select>
          </label>
        }
      />
      <ResourceTable<Run>
        path={`/api/v1/runs${qs({ limit: 100, status, workflow })}`}
        testId="runs"
        empty={{
          icon: <Activity className="size-8" />,
          title: status ? `No ${status} runs` : 'No runs yet',
          text: status ? 'Try another status.' : 'Open a workflow and press Run; its progress shows here live.',
        }}
        columns={[
          {
            head: 'Run',
            cell: (r) => (
              <Link to={`/runs/${r.id}`} className="font-medium text-indigo-700 hover:underline dark:text-indigo-300">
                {r.workflow_name ?? names.get(r.workflow_id) ?? r.workflow_id.slice(0, 8)}{' '}
                <span className="font-mono text-xs text-slate-500">#{r.id.slice(0, 8)}</span>
              </Link>
            ),
          },
          { head: 'Status', cell: (r) => <StatusBadge status={r.status} /> },
          { head: 'Version', cell: (r) => <span className="text-xs">v{r.workflow_version}</span> },
          {
            head: 'Started',
            cell: (r) => (
              <span className="text-xs text-slate-500" title={dateTime(r.started_at ?? r.created_at)}>
                {relativeTime(r.started_at ?? r.created_at)}
              </span>
            ),
          },
          {
            head: 'Duration',
            cell: (r) => (
              <span className="text-xs tabular-nums">
                {duration(
                  r.duration_ms ??
                    (r.started_at && r.finished_at ? Date.parse(r.finished_at) - Date.parse(r.started_at) : null),
                )}
              </span>
            ),
          },
        ]}
      />
    </div>
  );
}
