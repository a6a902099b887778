import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Plus } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import {
  Badge,
  Button,
  Card,
  DeleteButton,
  EmptyState,
  FormError,
  Modal,
  QueryView,
  SelectInput,
  Table,
  Td,
  TextInput,
} from '../../components/ui';
import { api } from '../../lib/api';
import { useAuth } from '../../lib/auth';
import { useGet } from '../../lib/queries';
import type { FieldErrors } from '../../lib/validation';

interface Provider {
  id: string;
  name: string;
  kind: 'openai' | 'anthropic' | 'ollama';
  base_url: string;
  api_key_set: boolean;
  models: string[];
  enabled: boolean;
  source: 'api' | 'config' | 'env';
}
interface Health {
  healthy: boolean;
  models: string[];
  latency_ms: number;
  error?: string;
}
interface Alias {
  alias: string;
  strategy: string;
  deployments: { provider: string; model: string; weight?: number }[];
  source: 'api' | 'config';
}

const PKEY = ['/api', '/v1', '/providers'];
const AKEY = ['/api', '/v1', '/model-aliases'];
const defaults: Record<Provider['kind'], string> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  ollama: 'http://127.0.0.1:11434',
};

export default function ProvidersTab() {
  const { can } = useAuth();
  const manage = can('provider:manage');
  const providers = useGet<{ items: Provider[] }>('/api/v1/providers');
  const aliases = useGet<{ items: Alias[] }>('/api/v1/model-aliases');
  const qc = useQueryClient();
  const [adding, setAdding] = useState(false);
  const [addingAlias, setAddingAlias] = useState(false);
  const [health, setHealth] = useState<Record<string, Health | { error: string; healthy: false }>>({});
  const test = useMutation({
    mutationFn: (id: string) => api.post<Health>(`/api/v1/providers/${id}/test`),
    onSuccess: (h, id) => setHealth((x) => ({ ...x, [id]: h })),
    onError: (e, id) => setHealth((x) => ({ ...x, [id]: { healthy: false, error: (e as Error).message } })),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api.delete(`/api/v1/providers/${id}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: PKEY }),
  });
  const removeAlias = useMutation({
    mutationFn: (alias: string) => api.delete(`/api/v1/model-aliases/${encodeURIComponent(alias)}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: AKEY }),
  });

  return (
    <div className="space-y-6">
      <Card
        title="Model providers"
        actions={
          manage && (
            <Button onClick={() => setAdding(true)}>
              <Plus className="size-4" /> Add provider
            </Button>
          )
        }
      >
        <QueryView
          query={providers}
          isEmpty={(data) => !data.items.length}
          empty={
            <EmptyState title="No providers yet">
              Add OpenAI, Anthropic or a local Ollama so agents and chat have a model.
            </EmptyState>
          }
        >
          {(data) => (
            <Table head={['Name', 'Kind', 'URL', 'Key', 'Models', 'Status', '']}>
              {data.items.map((p) => {
                const h = health[p.id];
                return (
                  <tr key={p.id}>
                    <Td className="font-medium">
                      {p.name} {p.source === 'config' && <Badge>from config</Badge>}
                      {p.source === 'env' && <Badge>from environment</Badge>}
                    </Td>
                    <Td>{p.kind}</Td>
                    <Td className="max-w-[14rem] truncate font-mono text-xs">{p.base_url}</Td>
                    <Td>{p.api_key_set ? <Badge tone="green">set</Badge> : <Badge>none</Badge>}</Td>
                    <Td className="text-xs">
                      {p.models.length
                        ? p.models.slice(0, 3).join(', ') + (p.models.length > 3 ? ` +${p.models.length - 3}` : '')
                        : 'discovered'}
                    </Td>
                    <Td>
                      {h ? (
                        h.healthy ? (
                          <span role="status">
                            <Badge tone="green">ok · {Math.round((h as Health).latency_ms)} ms</Badge>
                          </span>
                        ) : (
                          <span role="status" className="text-xs text-rose-600">
                            <Badge tone="red">failing</Badge> {h.error}
                          </span>
                        )
                      ) : p.enabled ? (
                        <Badge tone="blue">enabled</Badge>
                      ) : (
                        <Badge>disabled</Badge>
                      )}
                    </Td>
                    <Td className="whitespace-nowrap text-right">
                      <Button
                        variant="secondary"
                        busy={test.isPending && test.variables === p.id}
                        onClick={() => test.mutate(p.id)}
                      >
                        Test
                      </Button>
                      {manage && p.source === 'api' && (
                        <DeleteButton
                          label={`Delete ${p.name}`}
                          confirmText={`Delete the provider "${p.name}"?`}
                          onDelete={() => remove.mutate(p.id)}
                        />
                      )}
                    </Td>
                  </tr>
                );
              })}
            </Table>
          )}
        </QueryView>
        <FormError error={remove.error} />
      </Card>

      <Card
        title="Model aliases"
        actions={
          manage && (
            <Button variant="secondary" onClick={() => setAddingAlias(true)}>
              <Plus className="size-4" /> Add alias
            </Button>
          )
        }
      >
        <p className="mb-3 text-sm text-slate-500">
          An alias (e.g. “smart”) routes to one or more provider models, with fallback or load balancing.
        </p>
        <QueryView
          query={aliases}
          noRetry
          isEmpty={(data) => !data.items.length}
          empty={<p className="text-sm text-slate-500">No aliases.</p>}
        >
          {(data) => (
            <Table head={['Alias', 'Strategy', 'Deployments', '']}>
              {data.items.map((a) => (
                <tr key={a.alias}>
                  <Td className="font-mono font-medium">
                    {a.alias} {a.source === 'config' && <Badge>from config</Badge>}
                  </Td>
                  <Td>{a.strategy.replace(/_/g, ' ')}</Td>
                  <Td className="text-xs">{a.deployments.map((d) => `${d.provider}/${d.model}`).join(' → ')}</Td>
                  <Td className="text-right">
                    {manage && a.source === 'api' && (
                      <DeleteButton label={`Delete alias ${a.alias}`} onDelete={() => removeAlias.mutate(a.alias)} />
                    )}
                  </Td>
                </tr>
              ))}
            </Table>
          )}
        </QueryView>
      </Card>
      {adding && <ProviderModal onClose={() => setAdding(false)} />}
      {addingAlias && <AliasModal providers={providers.data?.items ?? []} onClose={() => setAddingAlias(false)} />}
    </div>
  );
}

function ProviderModal({ onClose }: { onClose: () => void }) {
  const qc = useQueryClient();
  const [f, setF] = useState({
    name: '',
    kind: 'openai' as Provider['kind'],
    base_url: defaults.openai,
    api_key: '',
    models: '',
  });
  const [errors, setErrors] = useState<FieldErrors>({});
  const create = useMutation({
    mutationFn: () =>
      api.post('/api/v1/providers', {
        name: f.name,
        kind: f.kind,
        base_url: f.base_url,
        ...(f.api_key ? { api_key: f.api_key } : {}),
        ...(f.models.trim() ? { models: f.models.split(/[\s,]+/).filter(Boolean) } : {}),
      }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: PKEY });
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v: FieldErrors = {};
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(f.name))
      v.name = 'Lower-case letters, digits, . _ - (used as provider/model).';
    if (!/^https?:\/\//.test(f.base_url)) v.base_url = 'A URL starting with http:// or https://.';
    setErrors(v);
    if (!Object.keys(v).length) create.mutate();
  };
  return (
    <Modal open onClose={onClose} title="Add provider">
      <form onSubmit={submit} className="space-y-4" noValidate>
        <div className="grid gap-4 sm:grid-cols-2">
          <TextInput
            label="Name"
            value={f.name}
            error={errors.name}
            onChange={(e) => setF({ ...f, name: e.target.value })}
            autoFocus
            placeholder="openai"
          />
          <SelectInput
            label="Kind"
            value={f.kind}
            onChange={(e) =>
              setF({
                ...f,
                kind: e.target.value as Provider['kind'],
                base_url: defaults[e.target.value as Provider['kind']],
              })
            }
          >
            <option value="openai">OpenAI-compatible</option>
            <option value="anthropic">Anthropic</option>
            <option value="ollama">Ollama</option>
          </SelectInput>
        </div>
        <TextInput
          label="Base URL"
          value={f.base_url}
          error={errors.base_url}
          onChange={(e) => setF({ ...f, base_url: e.target.value })}
        />
        <TextInput
          label="API key"
          type="password"
          autoComplete="off"
          value={f.api_key}
          hint="Stored encrypted; never shown again."
          onChange={(e) => setF({ ...f, api_key: e.target.value })}
        />
        <TextInput
          label="Models (optional)"
          value={f.models}
          hint="Comma separated; empty to use what the provider lists."
          onChange={(e) => setF({ ...f, models: e.target.value })}
        />
        <FormError error={create.error} />
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" busy={create.isPending}>
            Add provider
          </Button>
        </div>
      </form>
    </Modal>
  );
}

function AliasModal({ providers, onClose }: { providers: Provider[]; onClose: () => void }) {
  const qc = useQueryClient();
  const [alias, setAlias] = useState('');
  const [strategy, setStrategy] = useState('fallback');
  const [deployments, setDeployments] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const save = useMutation({
    mutationFn: (body: unknown) => api.put(`/api/v1/model-aliases/${encodeURIComponent(alias)}`, body),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: AKEY });
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v: FieldErrors = {};
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(alias)) v.alias = 'Letters, digits, . _ -';
    const deps = deployments
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((d) => {
        const i = d.indexOf('/');
        return i > 0 ? { provider: d.slice(0, i), model: d.slice(i + 1) } : undefined;
      });
    if (!deps.length || deps.some((d) => !d)) v.deployments = 'One or more provider/model, in order of preference.';
    setErrors(v);
    if (!Object.keys(v).length) save.mutate({ strategy, deployments: deps });
  };
  return (
    <Modal open onClose={onClose} title="Add model alias">
      <form onSubmit={submit} className="space-y-4" noValidate>
        <TextInput
          label="Alias"
          value={alias}
          error={errors.alias}
          onChange={(e) => setAlias(e.target.value)}
          autoFocus
          placeholder="smart"
        />
        <SelectInput label="Strategy" value={strategy} onChange={(e) => setStrategy(e.target.value)}>
          <option value="fallback">fallback (in order)</option>
          <option value="round_robin">round robin</option>
          <option value="least_busy">least busy</option>
          <option value="lowest_latency">lowest latency</option>
        </SelectInput>
        <TextInput
          label="Deployments"
          value={deployments}
          error={errors.deployments}
          onChange={(e) => setDeployments(e.target.value)}
          placeholder={providers[0] ? `${providers[0].name}/${providers[0].models[0] ?? 'model'}` : 'provider/model'}
          hint="provider/model, comma separated."
        />
        <FormError error={save.error} />
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" busy={save.isPending}>
            Save alias
          </Button>
        </div>
      </form>
    </Modal>
  );
}
