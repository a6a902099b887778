import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import {
  Button,
  Card,
  DeleteButton,
  FormError,
  QueryView,
  SelectInput,
  Table,
  Td,
  TextInput,
} from '../../components/ui';
import { api, type Page, type User } from '../../lib/api';
import { compactNumber, money } from '../../lib/format';
import { useGet } from '../../lib/queries';
import type { FieldErrors } from '../../lib/validation';

interface Budget {
  id: string;
  scope: 'user' | 'api_key';
  subject_id: string;
  period: 'day' | 'month';
  max_tokens: number | null;
  max_cost: number | null;
  max_request_tokens: number | null;
  used_tokens: number;
  used_cost: number;
}

const KEY = ['/api', '/v1', '/budgets'];

function Meter({ used, max }: { used: number; max: number | null }) {
  if (max === null) return <span className="text-xs text-slate-500">no limit</span>;
  const pct = Math.min(100, max === 0 ? 100 : (used / max) * 100);
  return (
    <div className="w-32">
      <div className="h-1.5 rounded bg-slate-200 dark:bg-slate-700">
        <div
          className={`h-1.5 rounded ${pct >= 90 ? 'bg-rose-500' : pct >= 70 ? 'bg-amber-500' : 'bg-emerald-500'}`}
          style={{ width: `${pct}%` }}
        />
      </div>
      <div className="mt-0.5 text-xs text-slate-500">{pct.toFixed(0)}%</div>
    </div>
  );
}

export default function BudgetsTab() {
  const budgets = useGet<{ items: Budget[] }>('/api/v1/budgets');
  const users = useGet<Page<User>>('/api/v1/users?limit=200');
  const qc = useQueryClient();
  const [f, setF] = useState({ subject_id: '', period: 'month', max_tokens: '', max_cost: '' });
  const [errors, setErrors] = useState<FieldErrors>({});
  const save = useMutation({
    mutationFn: (body: unknown) => api.put('/api/v1/budgets', body),
    onSuccess: () => qc.invalidateQueries({ queryKey: KEY }),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api.delete(`/api/v1/budgets/${id}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: KEY }),
  });
  const name = (id: string) => users.data?.items.find((u) => u.id === id)?.username ?? id.slice(0, 8);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v: FieldErrors = {};
    if (!f.subject_id) v.subject_id = 'Pick a user.';
    if (f.max_tokens && !/^\d+$/.test(f.max_tokens)) v.max_tokens = 'A whole number.';
    if (f.max_cost && !(Number(f.max_cost) >= 0)) v.max_cost = 'An amount in dollars.';
    if (!f.max_tokens && !f.max_cost) v.max_tokens = 'Set a token or a cost limit.';
    setErrors(v);
    if (Object.keys(v).length) return;
    save.mutate({
      scope: 'user',
      subject_id: f.subject_id,
      period: f.period,
      max_tokens: f.max_tokens ? Number(f.max_tokens) : null,
      max_cost: f.max_cost ? Number(f.max_cost) : null,
    });
  };
  return (
    <div className="space-y-6">
      <Card title="Budgets">
        <QueryView
          query={budgets}
          isEmpty={(data) => !data.items.length}
          empty={<p className="text-sm text-slate-500">No budgets: model use is not limited. Set one below.</p>}
        >
          {(data) => (
            <Table head={['For', 'Period', 'Tokens', '', 'Cost', '', '']}>
              {data.items.map((b) => (
                <tr key={b.id}>
                  <Td className="font-medium">
                    {b.scope === 'user' ? name(b.subject_id) : `API key ${b.subject_id.slice(0, 8)}`}
                  </Td>
                  <Td>per {b.period}</Td>
                  <Td className="text-xs tabular-nums">
                    {compactNumber(b.used_tokens)} / {b.max_tokens === null ? '∞' : compactNumber(b.max_tokens)}
                  </Td>
                  <Td>
                    <Meter used={b.used_tokens} max={b.max_tokens} />
                  </Td>
                  <Td className="text-xs tabular-nums">
                    {money(b.used_cost)} / {b.max_cost === null ? '∞' : money(b.max_cost)}
                  </Td>
                  <Td>
                    <Meter used={b.used_cost} max={b.max_cost} />
                  </Td>
                  <Td className="text-right">
                    <DeleteButton label="Delete budget" onDelete={() => remove.mutate(b.id)} />
                  </Td>
                </tr>
              ))}
            </Table>
          )}
        </QueryView>
      </Card>
      {!budgets.error && (
        <Card title="Set a budget" className="max-w-2xl">
          <form onSubmit={submit} className="grid gap-4 sm:grid-cols-2" noValidate>
            <SelectInput
              label="User"
              value={f.subject_id}
              error={errors.subject_id}
              onChange={(e) => setF({ ...f, subject_id: e.target.value })}
            >
              <option value="">Choose…</option>
              {(users.data?.items ?? []).map((u) => (
                <option key={u.id} value={u.id}>
                  {u.username}
                </option>
              ))}
            </SelectInput>
            <SelectInput label="Period" value={f.period} onChange={(e) => setF({ ...f, period: e.target.value })}>
              <option value="day">per day</option>
              <option value="month">per month</option>
            </SelectInput>
            <TextInput
              label="Max tokens"
              inputMode="numeric"
              value={f.max_tokens}
              error={errors.max_tokens}
              onChange={(e) => setF({ ...f, max_tokens: e.target.value })}
            />
            <TextInput
              label="Max cost ($)"
              inputMode="decimal"
              value={f.max_cost}
              error={errors.max_cost}
              onChange={(e) => setF({ ...f, max_cost: e.target.value })}
            />
            <div className="sm:col-span-2">
              <FormError error={save.error ?? remove.error} />
              <Button type="submit" busy={save.isPending}>
                Save budget
              </Button>
            </div>
          </form>
        </Card>
      )}
    </div>
  );
}
