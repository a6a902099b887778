import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Bot, Pencil, Plus } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import {
  Badge,
  Button,
  DeleteButton,
  EmptyState,
  FormError,
  Modal,
  PageHeader,
  QueryView,
  Spinner,
  StatusBadge,
  TextArea,
  TextInput,
} from '../components/ui';
import { api, ApiError, type Page } from '../lib/api';
import { relativeTime } from '../lib/format';
import { useGet } from '../lib/queries';
import { validateName, type FieldErrors } from '../lib/validation';
import type { Capability } from './capabilities';

interface Nft {
  collection?: string;
  token_id?: string;
  contract_address?: string;
  chain?: string;
  image_url?: string;
}
interface Agent {
  id: string;
  name: string;
  description: string;
  status: string;
  model: string;
  system_prompt: string;
  temperature: number | null;
  max_tokens: number | null;
  capabilities: string[];
  memory_collections: string[];
  nft: Nft | null;
  updated_at: string;
}
interface Collection {
  id: string;
  name: string;
}

const KEY = ['/api', '/v1', '/agents'];

/** A stable colour from the name, for agents without an image. */
function hue(name: string): number {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

export default function Agents() {
  const agents = useGet<Page<Agent>>('/api/v1/agents?limit=200');
  const qc = useQueryClient();
  const [editing, setEditing] = useState<Agent | 'new'>();
  const remove = useMutation({
    mutationFn: (id: string) => api.delete(`/api/v1/agents/${id}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: KEY }),
  });
  return (
    <div>
      <PageHeader
        title="Agents"
        description="Each agent has a model, a system prompt, the capabilities it may use and the memory it may read."
        actions={
          <Button onClick={() => setEditing('new')}>
            <Plus className="size-4" /> New agent
          </Button>
        }
      />
      <QueryView
        query={agents}
        isEmpty={(data) => !data.items.length}
        empty={
          <EmptyState
            icon={<Bot className="size-8" />}
            title="No agents yet"
            action={<Button onClick={() => setEditing('new')}>Create an agent</Button>}
          >
            An agent is a model with instructions and permissions. Create one, then use it in a workflow step or chat
            with it.
          </EmptyState>
        }
      >
        {(data) => (
          <ul className="grid gap-4 sm:grid-cols-2 xl:grid-cols-3" data-testid="agents">
            {data.items.map((a) => (
              <li
                key={a.id}
                className="flex flex-col rounded-lg bg-white p-4 shadow-sm ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800"
              >
                <div className="flex items-start gap-3">
                  {a.nft?.image_url ? (
                    <img src={a.nft.image_url} alt="" className="size-12 rounded-lg object-cover" />
                  ) : (
                    <div
                      className="flex size-12 items-center justify-center rounded-lg text-lg font-semibold text-white"
                      style={{ background: `hsl(${hue(a.name)} 60% 50%)` }}
                      aria-hidden
                    >
                      {a.name.slice(0, 1).toUpperCase()}
                    </div>
                  )}
                  <div className="min-w-0 flex-1">
                    <div className="flex items-center justify-between gap-2">
                      <h3 className="truncate font-medium">{a.name}</h3>
                      <StatusBadge status={a.status} />
                    </div>
                    <p className="truncate font-mono text-xs text-slate-500">{a.model}</p>
                  </div>
                </div>
                <p className="mt-3 line-clamp-2 flex-1 text-sm text-slate-600 dark:text-slate-400">
                  {a.description || a.system_prompt || '—'}
                </p>
                <div className="mt-3 flex flex-wrap gap-1">
                  {a.capabilities.slice(0, 4).map((c) => (
                    <Badge key={c} tone="blue">
                      {c.replace(/^system:/, '')}
                    </Badge>
                  ))}
                  {a.capabilities.length > 4 && <Badge>+{a.capabilities.length - 4}</Badge>}
                  {a.nft?.token_id && <Badge tone="violet">NFT #{a.nft.token_id}</Badge>}
                </div>
                <div className="mt-3 flex items-center justify-between border-t border-slate-100 pt-2 text-xs text-slate-500 dark:border-slate-800">
                  <span>updated {relativeTime(a.updated_at)}</span>
                  <span>
                    <Button variant="ghost" aria-label={`Edit ${a.name}`} onClick={() => setEditing(a)}>
                      <Pencil className="size-4" />
                    </Button>
                    <DeleteButton
                      label={`Delete ${a.name}`}
                      confirmText={`Delete the agent "${a.name}"?`}
                      onDelete={() => remove.mutate(a.id)}
                    />
                  </span>
                </div>
              </li>
            ))}
          </ul>
        )}
      </QueryView>
      <FormError error={remove.error} />
      {editing && <AgentModal agent={editing === 'new' ? undefined : editing} onClose={() => setEditing(undefined)} />}
    </div>
  );
}

function Picker({
  label,
  options,
  value,
  onChange,
  empty,
}: {
  label: string;
  options: { id: string; label: string; hint?: string }[];
  value: string[];
  onChange: (v: string[]) => void;
  empty: string;
}) {
  return (
    <fieldset>
      <legend className="text-sm font-medium text-slate-700 dark:text-slate-300">{label}</legend>
      {options.length === 0 ? (
        <p className="mt-1 text-xs text-slate-500">{empty}</p>
      ) : (
        <div className="mt-1 grid max-h-40 gap-1 overflow-y-auto rounded-md p-2 ring-1 ring-slate-200 sm:grid-cols-2 dark:ring-slate-700">
          {options.map((o) => (
            <label key={o.id} className="flex items-center gap-2 text-sm" title={o.hint}>
              <input
                type="checkbox"
                checked={value.includes(o.id)}
                onChange={(e) => onChange(e.target.checked ? [...value, o.id] : value.filter((x) => x !== o.id))}
              />
              <span className="truncate">{o.label}</span>
            </label>
          ))}
        </div>
      )}
    </fieldset>
  );
}

function AgentModal({ agent, onClose }: { agent: Agent | undefined; onClose: () => void }) {
  const qc = useQueryClient();
  const caps = useGet<Page<Capability>>('/api/v1/capabilities?limit=200');
  const collections = useGet<Page<Collection>>('/api/v1/memory/collections?limit=200');
  const models = useGet<{ items: { id: string }[]; aliases: string[] }>('/api/v1/models');
  const [f, setF] = useState({
    name: agent?.name ?? '',
    description: agent?.description ?? '',
    model: agent?.model ?? '',
    system_prompt: agent?.system_prompt ?? '',
    temperature: agent?.temperature?.toString() ?? '',
    max_tokens: agent?.max_tokens?.toString() ?? '',
    capabilities: agent?.capabilities ?? [],
    memory_collections: agent?.memory_collections ?? [],
    nft_collection: agent?.nft?.collection ?? '',
    nft_token_id: agent?.nft?.token_id ?? '',
    nft_contract: agent?.nft?.contract_address ?? '',
    nft_image: agent?.nft?.image_url ?? '',
  });
  const [errors, setErrors] = useState<FieldErrors>({});
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) =>
      agent ? api.patch(`/api/v1/agents/${agent.id}`, body) : api.post('/api/v1/agents', body),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: KEY });
      onClose();
    },
    onError: (e) => {
      if (e instanceof ApiError && e.field) setErrors({ [e.field.split('.')[0]!]: e.message });
    },
  });
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v: FieldErrors = {};
    const n = validateName(f.name);
    if (n) v.name = n;
    if (!f.model.trim()) v.model = 'Pick the model the agent thinks with.';
    const t = f.temperature === '' ? null : Number(f.temperature);
    if (t !== null && !(t >= 0 && t <= 2)) v.temperature = 'A number from 0 to 2.';
    const m = f.max_tokens === '' ? null : Number(f.max_tokens);
    if (m !== null && !(Number.isInteger(m) && m > 0)) v.max_tokens = 'A whole number above 0.';
    const anyNft = f.nft_collection || f.nft_token_id || f.nft_contract || f.nft_image;
    if (anyNft && !f.nft_collection) v.nft_collection = 'An NFT identity needs its collection.';
    if (anyNft && !f.nft_token_id) v.nft_token_id = 'An NFT identity needs its token ID.';
    if (f.nft_image && !/^(https?|ipfs):\/\//.test(f.nft_image)) v.nft_image = 'An http(s):// or ipfs:// URL.';
    setErrors(v);
    if (Object.keys(v).length) return;
    const nft =
      f.nft_collection || f.nft_token_id || f.nft_contract || f.nft_image
        ? {
            collection: f.nft_collection || undefined,
            token_id: f.nft_token_id || undefined,
            contract_address: f.nft_contract || undefined,
            image_url: f.nft_image || undefined,
          }
        : null;
    save.mutate({
      name: f.name.trim(),
      description: f.description,
      model: f.model.trim(),
      system_prompt: f.system_prompt,
      temperature: t,
      max_tokens: m,
      capabilities: f.capabilities,
      memory_collections: f.memory_collections,
      nft,
    });
  };

  return (
    <Modal open onClose={onClose} title={agent ? `Edit ${agent.name}` : 'New agent'} wide>
      <form onSubmit={submit} className="space-y-4" noValidate>
        <div className="grid gap-4 sm:grid-cols-2">
          <TextInput label="Name" value={f.name} error={errors.name} onChange={set('name')} autoFocus />
          <TextInput
            label="Model"
            list="agent-models"
            value={f.model}
            error={errors.model}
            onChange={set('model')}
            placeholder="provider/model or an alias"
            hint={models.error ? 'Type a model name.' : undefined}
          />
          <datalist id="agent-models">
            {[...(models.data?.aliases ?? []), ...(models.data?.items ?? []).map((m) => m.id)].map((m) => (
              <option key={m} value={m} />
            ))}
          </datalist>
        </div>
        <TextInput label="Description" value={f.description} onChange={set('description')} />
        <TextArea
          label="System prompt"
          rows={5}
          value={f.system_prompt}
          onChange={set('system_prompt')}
          className="font-sans text-sm"
        />
        <div className="grid gap-4 sm:grid-cols-2">
          <TextInput
            label="Temperature"
            inputMode="decimal"
            value={f.temperature}
            error={errors.temperature}
            onChange={set('temperature')}
            placeholder="model default"
          />
          <TextInput
            label="Max tokens"
            inputMode="numeric"
            value={f.max_tokens}
            error={errors.max_tokens}
            onChange={set('max_tokens')}
            placeholder="model default"
          />
        </div>
        {caps.isLoading ? (
          <Spinner />
        ) : (
          <Picker
            label="Capabilities"
            value={f.capabilities}
            onChange={(v) => setF({ ...f, capabilities: v })}
            options={(caps.data?.items ?? []).map((c) => ({ id: c.id, label: c.name, hint: c.description }))}
            empty={caps.error ? 'Capabilities are not available on this server.' : 'No capabilities yet.'}
          />
        )}
        <Picker
          label="Memory collections"
          value={f.memory_collections}
          onChange={(v) => setF({ ...f, memory_collections: v })}
          options={(collections.data?.items ?? []).map((c) => ({ id: c.id, label: c.name }))}
          empty={
            collections.error
              ? 'Memory is not available on this server.'
              : 'No collections yet; create one under Memory.'
          }
        />
        <details className="rounded-md p-3 ring-1 ring-slate-200 dark:ring-slate-700" open={!!agent?.nft}>
          <summary className="cursor-pointer text-sm font-medium">NFT identity (optional)</summary>
          <div className="mt-3 grid gap-4 sm:grid-cols-2">
            <TextInput
              label="Collection"
              value={f.nft_collection}
              error={errors.nft_collection}
              onChange={set('nft_collection')}
            />
            <TextInput
              label="Token ID"
              value={f.nft_token_id}
              error={errors.nft_token_id}
              onChange={set('nft_token_id')}
            />
            <TextInput
              label="Contract address"
              value={f.nft_contract}
              onChange={set('nft_contract')}
              className="font-mono"
            />
            <TextInput label="Image URL" value={f.nft_image} error={errors.nft_image} onChange={set('nft_image')} />
          </div>
        </details>
        <FormError error={save.error} />
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" busy={save.isPending}>
            {agent ? 'Save' : 'Create agent'}
          </Button>
        </div>
      </form>
    </Modal>
  );
}
