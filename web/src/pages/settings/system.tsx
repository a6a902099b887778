import { Card, ErrorState, Spinner } from '../../components/ui';
import { compactNumber } from '../../lib/format';
import { useGet } from '../../lib/queries';

interface Info {
  version: string;
  node: string;
  database: string;
  uptime_seconds: number;
  rss_bytes: number;
}

function uptime(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

export function SystemTab() {
  const info = useGet<Info>('/api/v1/system/info', { refetchInterval: 10_000 });
  if (info.isLoading) return <Spinner />;
  if (info.error) return <ErrorState error={info.error} retry={() => void info.refetch()} />;
  const i = info.data!;
  const rows: [string, string][] = [
    ['Version', i.version],
    ['Node.js', i.node],
    ['Database', i.database],
    ['Uptime', uptime(i.uptime_seconds)],
    ['Memory (RSS)', `${compactNumber(i.rss_bytes / 1024 / 1024)} MB`],
  ];
  return (
    <Card title="System" className="max-w-xl">
      <dl className="divide-y divide-slate-100 text-sm dark:divide-slate-800" data-testid="system-info">
        {rows.map(([k, v]) => (
          <div key={k} className="flex justify-between py-2">
            <dt className="text-slate-500">{k}</dt>
            <dd className="font-medium">{v}</dd>
          </div>
        ))}
      </dl>
      <p className="mt-4 text-xs text-slate-500">
        API reference:{' '}
        <a className="text-indigo-600 underline" href="/docs">
          /docs
        </a>
      </p>
    </Card>
  );
}
