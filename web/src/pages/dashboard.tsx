import { Activity, Bot, Circle, Server, Zap } from 'lucide-react';
import { Link } from 'react-router-dom';
import { Badge, Card, ErrorState, PageHeader, Spinner, Stat, StatusBadge, cx } from '../components/ui';
import { ApiError, qs, type Page } from '../lib/api';
import { useAuth } from '../lib/auth';
import { duration, percent, relativeTime } from '../lib/format';
import { useGet } from '../lib/queries';
import { useLiveChannel } from '../lib/live';

interface Ready {
  status: string;
  checks: Record<string, { ok: boolean; error?: string; ms: number }>;
}
interface RunSummary {
  id: string;
  workflow_name?: string;
  workflow_id?: string;
  status: string;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
}
interface AnalyticsSummary {
  success_rate: number | null;
  runs_today: number;
}

function startOfToday(): string {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

/** A count for a tile: the number, "—" while loading, "n/a" when this server has no such module. */
function countOf(q: { data?: Page<unknown>; error: unknown; isLoading: boolean }): { value: string; missing: boolean } {
  if (q.isLoading) return { value: '…', missing: false };
  if (q.error instanceof ApiError && q.error.notAvailable) return { value: 'n/a', missing: true };
  if (q.error) return { value: '!', missing: false };
  const n = q.data?.items.length ?? 0;
  return { value: q.data?.next_cursor ? `${n}+` : String(n), missing: false };
}

export default function Dashboard() {
  const { user } = useAuth();
  const agents = useGet<Page<unknown>>('/api/v1/agents?limit=100');
  const targets = useGet<Page<unknown>>('/api/v1/targets?limit=100');
  const runsToday = useGet<Page<RunSummary>>(`/api/v1/runs${qs({ limit: 100, since: startOfToday() })}`);
  const recent = useGet<Page<RunSummary>>('/api/v1/runs?limit=8');
  const summary = useGet<AnalyticsSummary>(`/api/v1/analytics/summary${qs({ since: startOfToday() })}`);
  const ready = useGet<Ready>('/ready', { refetchInterval: 15_000, retry: false });
  const workflows = useGet<Page<{ id: string; name: string }>>('/api/v1/workflows?limit=500');
  const names = new Map((workflows.data?.items ?? []).map((w) => [w.id, w.name]));
  const live = useLiveChannel('dashboard', () => {
    void recent.refetch();
    void runsToday.refetch();
  });

  const agentCount = countOf(agents);
  const targetCount = countOf(targets);
  const runCount = countOf(runsToday);
  const todays = runsToday.data?.items ?? [];
  const finished = todays.filter((r) => ['completed', 'failed', 'cancelled'].includes(r.status));
  const rate =
    summary.data?.success_rate ??
    (finished.length ? finished.filter((r) => r.status === 'completed').length / finished.length : null);

  const isNew = agentCount.value === '0' && targetCount.value === '0';

  return (
    <div>
      <PageHeader
        title={`Welcome${user ? `, ${user.username}` : ''}`}
        description="What your agents are doing right now."
      />
      {isNew && <GettingStarted />}
      <div className="grid grid-cols-2 gap-4 lg:grid-cols-4" data-testid="dashboard-stats">
        <Stat
          label="Active agents"
          value={agentCount.value}
          hint={agentCount.missing ? 'not available' : <Link to="/agents">View agents</Link>}
          icon={<Bot className="size-4" />}
        />
        <Stat
          label="Target systems"
          value={targetCount.value}
          hint={targetCount.missing ? 'not available' : <Link to="/targets">View targets</Link>}
          icon={<Server className="size-4" />}
        />
        <Stat
          label="Runs today"
          value={runCount.value}
          hint={runCount.missing ? 'not available' : <Link to="/runs">View runs</Link>}
          icon={<Activity className="size-4" />}
        />
        <Stat
          label="Success rate today"
          value={percent(rate)}
          hint={finished.length ? `${finished.length} finished` : 'no finished runs yet'}
          icon={<Zap className="size-4" />}
        />
      </div>

      <div className="mt-6 grid gap-6 lg:grid-cols-3">
        <Card
          className="lg:col-span-2"
          title="Recent activity"
          actions={
            <span
              className="flex items-center gap-1.5 text-xs text-slate-500"
              title={live.state === 'open' ? 'Updates arrive live' : 'Live updates are not connected'}
            >
              <span className={cx('size-2 rounded-full', live.state === 'open' ? 'bg-emerald-500' : 'bg-slate-400')} />
              {live.state === 'open' ? 'Live' : live.state === 'connecting' ? 'Connecting' : 'Not live'}
            </span>
          }
        >
          {recent.isLoading ? (
            <Spinner />
          ) : recent.error ? (
            <ErrorState error={recent.error} retry={() => void recent.refetch()} />
          ) : recent.data?.items.length ? (
            <ul className="divide-y divide-slate-100 dark:divide-slate-800" data-testid="activity">
              {recent.data.items.map((r) => (
                <li key={r.id} className="flex items-center gap-3 py-2 text-sm">
                  <StatusBadge status={r.status} />
                  <Link to={`/runs/${r.id}`} className="flex-1 truncate font-medium hover:underline">
                    {r.workflow_name ?? names.get(r.workflow_id ?? '') ?? r.id.slice(0, 8)}
                  </Link>
                  <span className="text-xs text-slate-500">
                    {r.started_at && r.finished_at
                      ? duration(Date.parse(r.finished_at) - Date.parse(r.started_at))
                      : ''}
                  </span>
                  <span className="w-24 text-right text-xs text-slate-500">{relativeTime(r.created_at)}</span>
                </li>
              ))}
            </ul>
          ) : (
            <p className="py-6 text-center text-sm text-slate-500">No runs yet. Start one from a workflow.</p>
          )}
        </Card>
        <Card title="System health">
          {ready.isLoading ? (
            <Spinner />
          ) : ready.data ? (
            <ul className="space-y-2 text-sm" data-testid="health">
              {Object.entries(ready.data.checks).map(([name, c]) => (
                <li key={name} className="flex items-center justify-between gap-2">
                  <span className="capitalize">{name.replace(/_/g, ' ')}</span>
                  <span title={c.error}>
                    <Badge tone={c.ok ? 'green' : 'red'}>{c.ok ? 'ok' : 'failing'}</Badge>
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <ErrorState error={ready.error} />
          )}
        </Card>
      </div>
    </div>
  );
}

function GettingStarted() {
  const steps = [
    {
      to: '/settings/providers',
      title: 'Connect a model provider',
      text: 'OpenAI, Anthropic or a local Ollama: agents need a model to think with.',
    },
    { to: '/targets', title: 'Add a target system', text: 'A folder, an HTTP API or a shell your agents may act on.' },
    { to: '/agents', title: 'Create an agent', text: 'Pick a model, a system prompt and the capabilities it may use.' },
    {
      to: '/workflows/new',
      title: 'Write a workflow and run it',
      text: 'Steps in YAML, shown as a graph; watch the run live.',
    },
  ];
  return (
    <Card className="mb-6" title="Get started">
      <ol className="grid gap-3 sm:grid-cols-2 lg:grid-cols-4" data-testid="getting-started">
        {steps.map((s, i) => (
          <li key={s.to}>
            <Link
              to={s.to}
              className="flex h-full gap-3 rounded-lg p-3 ring-1 ring-slate-200 transition hover:bg-slate-50 hover:ring-indigo-300 dark:ring-slate-800 dark:hover:bg-slate-800/50"
            >
              <span className="mt-0.5 text-indigo-500">
                <Circle className="size-5" />
              </span>
              <span>
                <span className="block text-sm font-medium">
                  {i + 1}. {s.title}
                </span>
                <span className="mt-0.5 block text-xs text-slate-500 dark:text-slate-400">{s.text}</span>
              </span>
            </Link>
          </li>
        ))}
      </ol>
    </Card>
  );
}
