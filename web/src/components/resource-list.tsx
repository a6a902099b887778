import type { ReactNode } from 'react';
import type { Page } from '../lib/api';
import { useGet } from '../lib/queries';
import { EmptyState, ErrorState, Spinner, Table, Td } from './ui';

export interface Column<T> {
  head: string;
  cell: (row: T) => ReactNode;
  className?: string;
}

/** A list page body: loading, error ("not available" on a 404 route), empty, or a table of rows. */
export function ResourceTable<T extends { id: string }>({
  path,
  columns,
  empty,
  testId,
}: {
  path: string;
  columns: Column<T>[];
  empty: { title: string; text: ReactNode; action?: ReactNode; icon?: ReactNode };
  testId?: string;
}) {
  const q = useGet<Page<T>>(path);
  if (q.isLoading) return <Spinner />;
  if (q.error) return <ErrorState error={q.error} retry={() => void q.refetch()} />;
  const items = q.data?.items ?? [];
  if (!items.length)
    return (
      <EmptyState title={empty.title} action={empty.action} icon={empty.icon}>
        {empty.text}
      </EmptyState>
    );
  return (
    <div data-testid={testId}>
      <Table head={columns.map((c) => c.head)}>
        {items.map((row) => (
          <tr key={row.id} className="hover:bg-slate-50 dark:hover:bg-slate-800/40">
            {columns.map((c) => (
              <Td key={c.head} className={c.className}>
                {c.cell(row)}
              </Td>
            ))}
          </tr>
        ))}
      </Table>
    </div>
  );
}
