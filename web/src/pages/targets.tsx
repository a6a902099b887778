import { useMutation, useQueryClient } from '@tanstack/react-query';
import { FolderOpen, Globe, Plug, Plus, Server, Terminal } from 'lucide-react';
import { useState, type FormEvent, type ReactNode } from 'react';
import {
  Badge,
  Button,
  DeleteButton,
  EmptyState,
  FormError,
  Modal,
  PageHeader,
  QueryView,
  SelectInput,
  StatusBadge,
  Table,
  Td,
  TextInput,
} from '../components/ui';
import { api, ApiError, type Page } from '../lib/api';
import { relativeTime } from '../lib/format';
import { useGet } from '../lib/queries';
import { emptyTargetForm, toTargetBody, validateTargetForm, type TargetForm } from '../lib/target-form';
import type { FieldErrors } from '../lib/validation';

interface Target {
  id: string;
  name: string;
  description?: string;
  type: string;
  config: Record<string, unknown>;
  secrets_set: string[];
  status: 'connected' | 'disconnected' | 'error';
  last_activity_at: string | null;
  last_tested_at: string | null;
  last_error: string | null;
  created_at: string;
}
interface TestResult {
  ok: boolean;
  status: string;
  message: string;
  duration_ms: number;
}

const KEY = ['/api', '/v1', '/targets'];
const icons: Record<string, ReactNode> = {
  filesystem: <FolderOpen className="size-4 text-amber-500" />,
  http: <Globe className="size-4 text-sky-500" />,
  shell: <Terminal className="size-4 text-slate-500" />,
  mcp: <Plug className="size-4 text-violet-500" />,
};

function where(t: Target): string {
  const c = t.config ?? {};
  return String(c.root ?? c.base_url ?? c.cwd ?? '');
}

export default function Targets() {
  const targets = useGet<Page<Target>>('/api/v1/targets?limit=200');
  const qc = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [results, setResults] = useState<Record<string, TestResult | { error: string }>>({});
  const test = useMutation({
    mutationFn: (id: string) => api.post<TestResult>(`/api/v1/targets/${id}/test`),
    onSuccess: (r, id) => setResults((x) => ({ ...x, [id]: r })),
    onError: (e, id) => setResults((x) => ({ ...x, [id]: { error: (e as Error).message } })),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api.delete(`/api/v1/targets/${id}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: KEY }),
  });

  return (
    <div>
      <PageHeader
        title="Targets"
        description="The systems agents act on: a folder, an HTTP API, or a shell with allowed programs."
        actions={
          <Button onClick={() => setCreating(true)}>
            <Plus className="size-4" /> New target
          </Button>
        }
      />
      <QueryView
        query={targets}
        isEmpty={(data) => !data.items.length}
        empty={
          <EmptyState
            icon={<Server className="size-8" />}
            title="No targets yet"
            action={<Button onClick={() => setCreating(true)}>Add a target</Button>}
          >
            Add the first system your agents may work on. Credentials you enter are encrypted and never shown again.
          </EmptyState>
        }
      >
        {(data) => (
          <Table head={['Name', 'Type', 'Where', 'Status', 'Last activity', '']}>
            {data.items.map((t) => {
              const r = results[t.id];
              return (
                <tr key={t.id}>
                  <Td>
                    <div className="font-medium">{t.name}</div>
                    {t.description && <div className="text-xs text-slate-500">{t.description}</div>}
                  </Td>
                  <Td>
                    <span className="flex items-center gap-1.5">
                      {icons[t.type]} {t.type}
                    </span>
                  </Td>
                  <Td className="max-w-xs truncate font-mono text-xs">{where(t)}</Td>
                  <Td>
                    {r ? (
                      'error' in r ? (
                        <span className="text-xs text-rose-600" role="status">
                          {r.error}
                        </span>
                      ) : r.ok ? (
                        <span role="status" title={r.message}>
                          <Badge tone="green">connected · {r.duration_ms} ms</Badge>
                        </span>
                      ) : (
                        <span className="text-xs text-rose-600" role="status">
                          <Badge tone="red">failed</Badge> {r.message}
                        </span>
                      )
                    ) : (
                      <span title={t.last_error ?? undefined} className="flex flex-col gap-0.5">
                        <StatusBadge status={t.last_tested_at ? t.status : 'untested'} />
                        {t.status === 'error' && t.last_error && (
                          <span className="max-w-xs truncate text-xs text-rose-600">{t.last_error}</span>
                        )}
                      </span>
                    )}
                  </Td>
                  <Td className="text-xs text-slate-500">{relativeTime(t.last_activity_at)}</Td>
                  <Td className="whitespace-nowrap text-right">
                    <Button
                      variant="secondary"
                      busy={test.isPending && test.variables === t.id}
                      onClick={() => test.mutate(t.id)}
                    >
                      Test connection
                    </Button>
                    <DeleteButton
                      label={`Delete ${t.name}`}
                      confirmText={`Delete the target "${t.name}"?`}
                      onDelete={() => remove.mutate(t.id)}
                    />
                  </Td>
                </tr>
              );
            })}
          </Table>
        )}
      </QueryView>
      <FormError error={remove.error} />
      <CreateTargetModal open={creating} onClose={() => setCreating(false)} />
    </div>
  );
}

function CreateTargetModal({ open, onClose }: { open: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [f, setF] = useState<TargetForm>(emptyTargetForm);
  const [errors, setErrors] = useState<FieldErrors>({});
  const create = useMutation({
    mutationFn: () => api.post<Target>('/api/v1/targets', toTargetBody(f)),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: KEY });
      close();
    },
    onError: (e) => {
      // The server names the offending field (`config/root`); show it beside that input when we have one.
      if (e instanceof ApiError && e.field) {
        const map: Record<string, string> = {
          name: 'name',
          'config.root': 'root',
          'config.base_url': 'baseUrl',
          'config.cwd': 'cwd',
          'config.allowed_programs': 'allowedPrograms',
        };
        const k = map[e.field];
        if (k) setErrors({ [k]: e.message });
      }
    },
  });
  const close = () => {
    setF(emptyTargetForm);
    setErrors({});
    create.reset();
    onClose();
  };
  const set = <K extends keyof TargetForm>(k: K, v: TargetForm[K]) => setF({ ...f, [k]: v });
  const text = (k: keyof TargetForm, label: string, extra: Record<string, unknown> = {}) => (
    <TextInput
      label={label}
      value={String(f[k])}
      error={errors[k]}
      onChange={(e) => set(k, e.target.value as never)}
      {...extra}
    />
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v = validateTargetForm(f);
    setErrors(v);
    if (!Object.keys(v).length) create.mutate();
  };
  const secret = { type: 'password', autoComplete: 'off', hint: 'Stored encrypted; never shown again.' };

  return (
    <Modal open={open} onClose={close} title="New target">
      <form onSubmit={submit} className="space-y-4" noValidate>
        <div className="grid gap-4 sm:grid-cols-2">
          {text('name', 'Name', { autoFocus: true, hint: 'Used in workflows: target: <name>' })}
          <SelectInput label="Type" value={f.type} onChange={(e) => set('type', e.target.value as TargetForm['type'])}>
            <option value="filesystem">Folder (filesystem)</option>
            <option value="http">HTTP API</option>
            <option value="shell">Shell</option>
          </SelectInput>
        </div>
        {text('description', 'Description')}
        {f.type === 'filesystem' && (
          <>
            {text('root', 'Folder', { placeholder: '/srv/data', hint: 'Agents see only what is inside it.' })}
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={f.readOnly} onChange={(e) => set('readOnly', e.target.checked)} /> Read
              only
            </label>
          </>
        )}
        {f.type === 'http' && (
          <>
            {text('baseUrl', 'Base URL', { placeholder: 'https://api.example.com' })}
            <SelectInput
              label="Authentication"
              value={f.authType}
              onChange={(e) => set('authType', e.target.value as TargetForm['authType'])}
            >
              <option value="none">None</option>
              <option value="bearer">Bearer token</option>
              <option value="basic">User name and password</option>
              <option value="header">A header</option>
            </SelectInput>
            {f.authType === 'bearer' && text('token', 'Token', secret)}
            {f.authType === 'basic' && (
              <div className="grid gap-4 sm:grid-cols-2">
                {text('username', 'User name')}
                {text('password', 'Password', secret)}
              </div>
            )}
            {f.authType === 'header' && (
              <div className="grid gap-4 sm:grid-cols-2">
                {text('headerName', 'Header', { placeholder: 'X-Api-Key' })}
                {text('headerValue', 'Value', secret)}
              </div>
            )}
            {text('allowedHosts', 'Other allowed hosts', {
              hint: 'Comma separated; the base URL’s host is always allowed.',
            })}
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={f.allowPrivate} onChange={(e) => set('allowPrivate', e.target.checked)} />{' '}
              Allow private and local addresses
            </label>
          </>
        )}
        {f.type === 'shell' && (
          <>
            {text('cwd', 'Working folder', { placeholder: '/srv/app' })}
            {text('allowedPrograms', 'Allowed programs', {
              placeholder: 'ls, git, npm',
              hint: 'Only these may run; no shell is involved.',
            })}
          </>
        )}
        {f.type !== 'filesystem' && text('timeoutMs', 'Timeout (ms)', { inputMode: 'numeric', placeholder: '30000' })}
        <FormError error={create.error} />
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={close}>
            Cancel
          </Button>
          <Button type="submit" busy={create.isPending}>
            Create target
          </Button>
        </div>
      </form>
    </Modal>
  );
}
