import { useState } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { Card, ErrorState, PageHeader, QueryView, Spinner, Stat, Table, Td, cx } from '../components/ui';
import { qs } from '../lib/api';
import { compactNumber, duration, money, percent } from '../lib/format';
import { useGet } from '../lib/queries';

interface Summary {
  since: string;
  active_agents: number;
  agents: number;
  target_systems: number;
  runs_today: number;
  total_runs: number;
  success_rate: number | null;
  avg_duration_ms: number | null;
  p95_duration_ms: number | null;
  step_attempts: number;
  top_capabilities: { capability: string; attempts: number; failures: number; avg_duration_ms: number | null }[];
}
interface Timeseries {
  bucket: string;
  points: { t: string; runs: number; failures: number; tokens: number; cost: number }[];
}
interface UsageSummary {
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number;
  by_model: { model: string; calls: number; prompt_tokens: number; completion_tokens: number; cost: number }[];
}

const RANGES = [
  { id: '24h', label: '24 hours', ms: 86_400_000, bucket: 'hour' },
  { id: '7d', label: '7 days', ms: 7 * 86_400_000, bucket: 'day' },
  { id: '30d', label: '30 days', ms: 30 * 86_400_000, bucket: 'day' },
] as const;

/** The window start, rounded to the minute so the query key (and cache) is stable while the page is open. */
function sinceOf(ms: number): string {
  return new Date(Math.floor((Date.now() - ms) / 60_000) * 60_000).toISOString();
}

export default function Analytics() {
  const [rangeId, setRangeId] = useState<(typeof RANGES)[number]['id']>('7d');
  const range = RANGES.find((r) => r.id === rangeId)!;
  const since = sinceOf(range.ms);
  const summary = useGet<Summary>(`/api/v1/analytics/summary${qs({ since })}`, { refetchInterval: 30_000 });
  const series = useGet<Timeseries>(`/api/v1/analytics/timeseries${qs({ since, bucket: range.bucket })}`, {
    refetchInterval: 30_000,
  });
  const usage = useGet<UsageSummary>(`/api/v1/usage/summary${qs({ since, all: true })}`);

  const label = (t: string) => {
    const d = new Date(t);
    return range.bucket === 'hour'
      ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
  };
  const points = (series.data?.points ?? []).map((p) => ({ ...p, label: label(p.t) }));

  return (
    <div>
      <PageHeader
        title="Analytics"
        description="How runs go over time, what they cost, and which capabilities do the work."
        actions={
          <div
            role="radiogroup"
            aria-label="Time range"
            className="flex rounded-md ring-1 ring-slate-300 dark:ring-slate-700"
          >
            {RANGES.map((r) => (
              <button
                key={r.id}
                type="button"
                role="radio"
                aria-checked={r.id === rangeId}
                onClick={() => setRangeId(r.id)}
                className={cx(
                  'px-3 py-1.5 text-sm first:rounded-l-md last:rounded-r-md',
                  r.id === rangeId ? 'bg-indigo-600 text-white' : 'hover:bg-slate-100 dark:hover:bg-slate-800',
                )}
              >
                {r.label}
              </button>
            ))}
          </div>
        }
      />
      {summary.error ? (
        <ErrorState error={summary.error} retry={() => void summary.refetch()} />
      ) : summary.isLoading ? (
        <Spinner />
      ) : (
        <div className="grid grid-cols-2 gap-4 lg:grid-cols-5" data-testid="analytics-summary">
          <Stat
            label="Runs"
            value={compactNumber(summary.data!.total_runs)}
            hint={`${summary.data!.runs_today} today`}
          />
          <Stat label="Success rate" value={percent(summary.data!.success_rate)} />
          <Stat label="Average duration" value={duration(summary.data!.avg_duration_ms)} />
          <Stat label="p95 duration" value={duration(summary.data!.p95_duration_ms)} />
          <Stat
            label="Active agents"
            value={`${summary.data!.active_agents} / ${summary.data!.agents}`}
            hint={`${summary.data!.step_attempts} step attempts`}
          />
        </div>
      )}
      <div className="mt-6 grid gap-6 xl:grid-cols-2">
        <Card title="Runs and failures">
          <QueryView query={series} noRetry>
            {() => (
              <div className="h-64">
                <ResponsiveContainer>
                  <BarChart data={points}>
                    <CartesianGrid strokeDasharray="3 3" strokeOpacity={0.3} />
                    <XAxis dataKey="label" fontSize={11} />
                    <YAxis allowDecimals={false} fontSize={11} width={32} />
                    <Tooltip />
                    <Legend />
                    <Bar dataKey="runs" name="runs" fill="#6366f1" />
                    <Bar dataKey="failures" name="failures" fill="#f43f5e" />
                  </BarChart>
                </ResponsiveContainer>
              </div>
            )}
          </QueryView>
        </Card>
        <Card title="Tokens and cost">
          <QueryView query={series} noRetry>
            {() => (
              <div className="h-64">
                <ResponsiveContainer>
                  <LineChart data={points}>
                    <CartesianGrid strokeDasharray="3 3" strokeOpacity={0.3} />
                    <XAxis dataKey="label" fontSize={11} />
                    <YAxis yAxisId="tokens" fontSize={11} width={40} tickFormatter={(v: number) => compactNumber(v)} />
                    <YAxis
                      yAxisId="cost"
                      orientation="right"
                      fontSize={11}
                      width={48}
                      tickFormatter={(v: number) => money(v)}
                    />
                    <Tooltip />
                    <Legend />
                    <Line yAxisId="tokens" type="monotone" dataKey="tokens" stroke="#0ea5e9" dot={{ r: 2 }} />
                    <Line yAxisId="cost" type="monotone" dataKey="cost" stroke="#f59e0b" dot={{ r: 2 }} />
                  </LineChart>
                </ResponsiveContainer>
              </div>
            )}
          </QueryView>
        </Card>
        <Card title="By model">
          <QueryView
            query={usage}
            noRetry
            isEmpty={(data) => !data.by_model.length}
            empty={<p className="text-sm text-slate-500">No model calls in this window.</p>}
          >
            {(data) => (
              <Table head={['Model', 'Calls', 'Tokens in', 'Tokens out', 'Cost']}>
                {data.by_model.map((m) => (
                  <tr key={m.model}>
                    <Td className="font-mono text-xs">{m.model}</Td>
                    <Td className="tabular-nums">{compactNumber(m.calls)}</Td>
                    <Td className="tabular-nums">{compactNumber(m.prompt_tokens)}</Td>
                    <Td className="tabular-nums">{compactNumber(m.completion_tokens)}</Td>
                    <Td className="tabular-nums">{money(m.cost)}</Td>
                  </tr>
                ))}
              </Table>
            )}
          </QueryView>
        </Card>
        <Card title="Top capabilities">
          {!summary.data?.top_capabilities.length ? (
            <p className="text-sm text-slate-500">{summary.error ? '—' : 'No steps ran in this window.'}</p>
          ) : (
            <Table head={['Capability', 'Attempts', 'Failures', 'Average']}>
              {summary.data.top_capabilities.map((c) => (
                <tr key={c.capability}>
                  <Td className="font-mono text-xs">{c.capability}</Td>
                  <Td className="tabular-nums">{c.attempts}</Td>
                  <Td className={cx('tabular-nums', c.failures > 0 && 'text-rose-600')}>{c.failures}</Td>
                  <Td className="tabular-nums">{duration(c.avg_duration_ms)}</Td>
                </tr>
              ))}
            </Table>
          )}
        </Card>
      </div>
    </div>
  );
}
