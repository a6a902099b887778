import { Plus, Workflow as WorkflowIcon } from 'lucide-react';
import { useState } from 'react';
import { Link } from 'react-router-dom';
import { ResourceTable } from '../components/resource-list';
import { RunInputsModal } from '../components/run-inputs-modal';
import { Badge, Button, PageHeader, buttonClass } from '../components/ui';
import { relativeTime } from '../lib/format';
import { workflowsApi, type Workflow, type WorkflowSummary } from '../lib/workflows-api';

export default function Workflows() {
  const [q, setQ] = useState('');
  const [toRun, setToRun] = useState<Workflow>();
  return (
    <div>
      <PageHeader
        title="Workflows"
        description="Versioned definitions of steps; each run pins the version it started with."
        actions={
          <>
            <input
              type="search"
              placeholder="Filter by name"
              aria-label="Filter workflows by name"
              value={q}
              onChange={(e) => setQ(e.target.value)}
              className="rounded-md border-0 px-2.5 py-1.5 text-sm ring-1 ring-slate-300 dark:bg-slate-900 dark:ring-slate-700"
            />
            <Link to="/workflows/new" className={buttonClass()}>
              <Plus className="size-4" /> New workflow
            </Link>
          </>
        }
      />
      <ResourceTable<WorkflowSummary>
        path={`/api/v1/workflows?limit=100${q ? `&q=${encodeURIComponent(q)}` : ''}`}
        testId="workflows"
        empty={{
          icon: <WorkflowIcon className="size-8" />,
          title: q ? 'No workflow matches' : 'No workflows yet',
          text: q
            ? 'Try another name.'
            : 'A workflow is a list of steps in YAML. Start from the example in the editor.',
          action: q ? undefined : (
            <Link to="/workflows/new" className="text-sm font-medium text-indigo-600 hover:underline">
              Write your first workflow
            </Link>
          ),
        }}
        columns={[
          {
            head: 'Name',
            cell: (w) => (
              <Link
                to={`/workflows/${w.id}`}
                className="font-medium text-indigo-700 hover:underline dark:text-indigo-300"
              >
                {w.name}
              </Link>
            ),
          },
          {
            head: 'Description',
            cell: (w) => <span className="text-slate-600 dark:text-slate-400">{w.description || '—'}</span>,
          },
          { head: 'Version', cell: (w) => <Badge tone="violet">v{w.version}</Badge> },
          {
            head: 'Updated',
            cell: (w) => <span className="text-xs text-slate-500">{relativeTime(w.updated_at)}</span>,
          },
          {
            head: '',
            className: 'text-right',
            cell: (w) => (
              <Button variant="secondary" onClick={() => void workflowsApi.get(w.id).then(setToRun)}>
                Run
              </Button>
            ),
          },
        ]}
      />
      <RunInputsModal workflow={toRun} open={!!toRun} onClose={() => setToRun(undefined)} />
    </div>
  );
}
