import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Ban, Check, RotateCcw, X } from 'lucide-react';
import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { StepGraph, type StepView } from '../components/step-graph';
import {
  Badge,
  Button,
  Card,
  ErrorState,
  FormError,
  Json,
  PageHeader,
  Spinner,
  StatusBadge,
  cx,
} from '../components/ui';
import { api } from '../lib/api';
import { dateTime, duration, relativeTime } from '../lib/format';
import { readSse } from '../lib/sse';
import type { Run, RunDetail, RunStep, WorkflowVersion } from '../lib/workflows-api';

const ACTIVE = new Set(['queued', 'pending', 'running', 'waiting']);

/** The approval message of a step waiting for a person; undefined when it waits for something else. */
function approvalOf(s: RunStep): string | undefined {
  const w = s.waiting_for as { approval?: { message?: string } } | null;
  return w?.approval ? (w.approval.message ?? '') : undefined;
}

interface StepDef {
  id: string;
  uses?: string;
  needs?: string[];
  if?: string;
  foreach?: unknown;
  wait?: unknown;
}

export default function RunPage() {
  const { id } = useParams();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [live, setLive] = useState<'connecting' | 'live' | 'polling'>('connecting');
  const [selected, setSelected] = useState<string>();

  const run = useQuery({
    queryKey: ['run', id],
    queryFn: () => api.get<RunDetail>(`/api/v1/runs/${id}`),
    refetchInterval: (q) => (live !== 'live' && q.state.data && ACTIVE.has(q.state.data.status) ? 2000 : false),
  });
  const version = useQuery({
    queryKey: ['workflow-version', run.data?.workflow_id, run.data?.workflow_version],
    queryFn: () =>
      api.get<WorkflowVersion>(`/api/v1/workflows/${run.data!.workflow_id}/versions/${run.data!.workflow_version}`),
    enabled: !!run.data,
    staleTime: Infinity,
  });

  // Live: each event refreshes the run; the stream resumes where it stopped after a drop.
  const active = run.data ? ACTIVE.has(run.data.status) : false;
  useEffect(() => {
    if (!id || !active) return;
    const ctrl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const refresh = () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        void qc.invalidateQueries({ queryKey: ['run', id] });
      }, 100);
    };
    readSse(`/api/v1/runs/${id}/events`, refresh, { signal: ctrl.signal, onOpen: () => setLive('live') }).catch(() =>
      setLive('polling'),
    );
    return () => {
      ctrl.abort();
      if (timer) clearTimeout(timer);
    };
  }, [id, active, qc]);

  const stepRows = useMemo(() => run.data?.steps ?? [], [run.data]);
  const action = useMutation({
    mutationFn: ({ path, body }: { path: string; body?: unknown }) => api.post<Run>(path, body ?? {}),
    onSuccess: (res, v) => {
      if (v.path.endsWith('/retry') && res?.id && res.id !== id) navigate(`/runs/${res.id}`);
      void qc.invalidateQueries({ queryKey: ['run', id] });
    },
  });

  if (run.isLoading) return <Spinner />;
  if (run.error) return <ErrorState error={run.error} retry={() => void run.refetch()} />;
  const r = run.data!;
  const defSteps = ((version.data?.definition.steps as StepDef[] | undefined) ?? []).filter(
    (s) => typeof s?.id === 'string',
  );
  const byStep = new Map(stepRows.filter((s) => s.item_index === null).map((s) => [s.id, s]));
  const views: StepView[] = (
    defSteps.length ? defSteps : [...byStep.values()].map((s) => ({ id: s.id }) as StepDef)
  ).map((s) => ({
    id: s.id,
    needs: s.needs ?? [],
    uses: s.uses,
    condition: s.if,
    foreach: s.foreach !== undefined,
    wait: s.wait !== undefined,
    status: byStep.get(s.id)?.status ?? (ACTIVE.has(r.status) ? 'pending' : undefined),
    attempts: byStep.get(s.id)?.attempts.length,
  }));
  const waiting = stepRows.filter((s) => s.status === 'waiting' && approvalOf(s) !== undefined);
  const sel = selected ? stepRows.filter((s) => s.id === selected) : [];

  return (
    <div>
      <PageHeader
        title={`Run ${r.id.slice(0, 8)}`}
        description={
          <span className="flex flex-wrap items-center gap-2">
            <StatusBadge status={r.status} />
            <Link to={`/workflows/${r.workflow_id}`} className="hover:underline">
              {r.workflow_name ?? 'workflow'} v{r.workflow_version}
            </Link>
            · started {relativeTime(r.started_at ?? r.created_at)}
            {r.finished_at &&
              ` · took ${duration(r.duration_ms ?? Date.parse(r.finished_at) - Date.parse(r.started_at ?? r.created_at))}`}
            {ACTIVE.has(r.status) && (
              <span className="flex items-center gap-1 text-xs" data-testid="live-state">
                <span className={cx('size-2 rounded-full', live === 'live' ? 'bg-emerald-500' : 'bg-amber-500')} />
                {live === 'live' ? 'live' : live === 'polling' ? 'refreshing every 2 s' : 'connecting'}
              </span>
            )}
          </span>
        }
        actions={
          <>
            {ACTIVE.has(r.status) && (
              <Button
                variant="danger"
                busy={action.isPending && action.variables?.path.endsWith('/cancel')}
                onClick={() =>
                  confirm('Cancel this run? Running steps are stopped.') &&
                  action.mutate({ path: `/api/v1/runs/${r.id}/cancel` })
                }
              >
                <Ban className="size-4" /> Cancel run
              </Button>
            )}
            {['failed', 'cancelled', 'timed_out'].includes(r.status) && (
              <Button
                variant="secondary"
                busy={action.isPending}
                onClick={() => action.mutate({ path: `/api/v1/runs/${r.id}/retry` })}
              >
                <RotateCcw className="size-4" /> Retry
              </Button>
            )}
          </>
        }
      />
      <FormError error={action.error} />
      {waiting.map((s) => (
        <div
          key={s.key}
          className="mb-4 flex flex-wrap items-center justify-between gap-3 rounded-lg bg-amber-50 p-4 ring-1 ring-amber-200 dark:bg-amber-950/30 dark:ring-amber-900"
        >
          <div className="text-sm">
            <strong>{s.id}</strong> is waiting for approval.
            {approvalOf(s) && <span className="ml-1">{approvalOf(s)}</span>}
          </div>
          <div className="flex gap-2">
            <Button
              onClick={() => action.mutate({ path: `/api/v1/runs/${r.id}/steps/${encodeURIComponent(s.key)}/approve` })}
            >
              <Check className="size-4" /> Approve
            </Button>
            <Button
              variant="danger"
              onClick={() => action.mutate({ path: `/api/v1/runs/${r.id}/steps/${encodeURIComponent(s.key)}/reject` })}
            >
              <X className="size-4" /> Reject
            </Button>
          </div>
        </div>
      ))}
      {r.error && (
        <div className="mb-4">
          <ErrorState error={Object.assign(new Error(r.error.message ?? 'The run failed.'), { code: r.error.code })} />
        </div>
      )}
      <div className="grid gap-4 xl:grid-cols-5">
        <div className="xl:col-span-3">
          {version.isLoading && !views.length ? (
            <Spinner />
          ) : (
            <StepGraph steps={views} selected={selected} onSelect={setSelected} height={460} />
          )}
        </div>
        <Card title="Timeline" className="xl:col-span-2">
          <Timeline steps={stepRows} onSelect={setSelected} selected={selected} />
        </Card>
      </div>
      <div className="mt-4 grid gap-4 lg:grid-cols-2">
        {sel.length > 0 ? (
          sel.map((s) => (
            <Card
              key={s.key}
              title={`Step ${s.key}`}
              actions={<StatusBadge status={s.status} />}
              className="lg:col-span-2"
            >
              <div className="grid gap-4 md:grid-cols-2">
                <div>
                  <h3 className="mb-1 text-xs font-semibold uppercase text-slate-500">Output</h3>
                  <Json value={s.output} />
                </div>
                <div>
                  <h3 className="mb-1 text-xs font-semibold uppercase text-slate-500">Error</h3>
                  <Json value={s.error ?? undefined} />
                  <p className="mt-2 text-xs text-slate-500">
                    {s.attempts.length} attempt{s.attempts.length === 1 ? '' : 's'} · started {dateTime(s.started_at)} ·
                    finished {dateTime(s.finished_at)}
                  </p>
                </div>
              </div>
            </Card>
          ))
        ) : (
          <>
            <Card title="Inputs">
              <Json value={r.inputs ?? {}} />
            </Card>
            <Card title="Outputs">
              {r.outputs ? (
                <Json value={r.outputs} />
              ) : (
                <p className="text-sm text-slate-500">{ACTIVE.has(r.status) ? 'Not finished yet.' : 'None.'}</p>
              )}
            </Card>
          </>
        )}
      </div>
    </div>
  );
}

function Timeline({
  steps,
  onSelect,
  selected,
}: {
  steps: RunStep[];
  onSelect: (id: string) => void;
  selected?: string | undefined;
}) {
  const started = steps.filter((s) => s.started_at).map((s) => Date.parse(s.started_at!));
  if (!started.length) return <p className="text-sm text-slate-500">No step has started yet.</p>;
  const t0 = Math.min(...started);
  const t1 = Math.max(Date.now(), ...steps.filter((s) => s.finished_at).map((s) => Date.parse(s.finished_at!)));
  const span = Math.max(1, t1 - t0);
  const color: Record<string, string> = {
    completed: 'bg-emerald-500',
    failed: 'bg-rose-500',
    running: 'bg-sky-500',
    retrying: 'bg-amber-500',
    waiting: 'bg-amber-400',
    cancelled: 'bg-slate-400',
    skipped: 'bg-slate-300',
  };
  return (
    <ul className="space-y-2" data-testid="timeline">
      {[...steps]
        .sort((a, b) => (a.started_at ?? '~').localeCompare(b.started_at ?? '~'))
        .map((s) => {
          const a = s.started_at ? Date.parse(s.started_at) : undefined;
          const b = s.finished_at ? Date.parse(s.finished_at) : Date.now();
          return (
            <li key={s.key}>
              <button
                type="button"
                onClick={() => onSelect(s.id)}
                className={cx(
                  'w-full rounded p-1 text-left hover:bg-slate-50 dark:hover:bg-slate-800',
                  selected === s.id && 'bg-slate-100 dark:bg-slate-800',
                )}
              >
                <div className="flex items-center justify-between text-xs">
                  <span className="font-medium">{s.key}</span>
                  <span className="flex items-center gap-2 text-slate-500">
                    {s.attempts.length > 1 && <Badge tone="amber">{s.attempts.length} attempts</Badge>}
                    {a !== undefined ? duration(b - a) : s.status}
                  </span>
                </div>
                <div className="relative mt-1 h-2 rounded bg-slate-100 dark:bg-slate-800">
                  {a !== undefined && (
                    <div
                      className={cx('absolute h-2 rounded', color[s.status] ?? 'bg-slate-400')}
                      style={{ left: `${((a - t0) / span) * 100}%`, width: `${Math.max(1, ((b - a) / span) * 100)}%` }}
                    />
                  )}
                </div>
              </button>
            </li>
          );
        })}
    </ul>
  );
}
