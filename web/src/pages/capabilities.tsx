import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Boxes, Lock, Plus } from 'lucide-react';
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
  SelectInput,
  TextArea,
  TextInput,
} from '../components/ui';
import { api, qs, type Page } from '../lib/api';
import { useGet } from '../lib/queries';
import { parseJsonObject, validateName, type FieldErrors } from '../lib/validation';

export interface Capability {
  id: string;
  name: string;
  description: string;
  system: boolean;
  task_type: string;
  target_types: string[];
  requires_agent: boolean;
  input_schema: Record<string, unknown>;
  defaults: Record<string, unknown>;
  estimated_ms: number | null;
}

const KEY = ['/api', '/v1', '/capabilities'];
const TARGET_TYPES = ['filesystem', 'http', 'shell', 'mcp'];

export default function Capabilities() {
  const [kind, setKind] = useState('');
  const [targetType, setTargetType] = useState('');
  const [editing, setEditing] = useState<Capability | 'new'>();
  const caps = useGet<Page<Capability>>(
    `/api/v1/capabilities${qs({ limit: 200, system: kind === '' ? undefined : kind === 'system', target_type: targetType })}`,
  );
  const qc = useQueryClient();
  const remove = useMutation({
    mutationFn: (id: string) => api.delete(`/api/v1/capabilities/${id}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: KEY }),
  });
  const select = 'rounded-md border-0 py-1.5 text-sm ring-1 ring-slate-300 dark:bg-slate-900 dark:ring-slate-700';
  return (
    <div>
      <PageHeader
        title="Capabilities"
        description="What agents can do: built-in task types, and your own capabilities built on them with defaults and an input schema."
        actions={
          <>
            <select aria-label="Kind" className={select} value={kind} onChange={(e) => setKind(e.target.value)}>
              <option value="">All kinds</option>
              <option value="system">Built-in</option>
              <option value="custom">Custom</option>
            </select>
            <select
              aria-label="Target type"
              className={select}
              value={targetType}
              onChange={(e) => setTargetType(e.target.value)}
            >
              <option value="">Any target type</option>
              {TARGET_TYPES.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
            <Button onClick={() => setEditing('new')}>
              <Plus className="size-4" /> New capability
            </Button>
          </>
        }
      />
      <QueryView
        query={caps}
        isEmpty={(data) => !data.items.length}
        empty={
          <EmptyState icon={<Boxes className="size-8" />} title="No capabilities match">
            Change the filters, or create a capability of your own.
          </EmptyState>
        }
      >
        {(data) => (
          <ul className="grid gap-4 sm:grid-cols-2 xl:grid-cols-3" data-testid="capabilities">
            {data.items.map((c) => (
              <li
                key={c.id}
                className="flex flex-col rounded-lg bg-white p-4 shadow-sm ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800"
              >
                <div className="flex items-start justify-between gap-2">
                  <h3 className="font-medium">{c.name}</h3>
                  {c.system ? (
                    <Badge tone="gray">
                      <Lock className="mr-1 size-3" /> built-in
                    </Badge>
                  ) : (
                    <Badge tone="violet">custom</Badge>
                  )}
                </div>
                <p className="mt-1 flex-1 text-sm text-slate-500 dark:text-slate-400">{c.description || '—'}</p>
                <div className="mt-3 flex flex-wrap items-center gap-1.5 text-xs">
                  <span className="rounded bg-slate-100 px-1.5 py-0.5 font-mono dark:bg-slate-800">{c.task_type}</span>
                  {c.target_types.map((t) => (
                    <Badge key={t} tone="blue">
                      {t}
                    </Badge>
                  ))}
                  {c.requires_agent && <Badge tone="amber">needs an agent</Badge>}
                </div>
                {!c.system && (
                  <div className="mt-3 flex justify-end gap-1 border-t border-slate-100 pt-2 dark:border-slate-800">
                    <Button variant="ghost" onClick={() => setEditing(c)}>
                      Edit
                    </Button>
                    <DeleteButton
                      label={`Delete ${c.name}`}
                      confirmText={`Delete "${c.name}"?`}
                      onDelete={() => remove.mutate(c.id)}
                    />
                  </div>
                )}
              </li>
            ))}
          </ul>
        )}
      </QueryView>
      <FormError error={remove.error} />
      {editing && (
        <CapabilityModal
          capability={editing === 'new' ? undefined : editing}
          taskTypes={[...new Set((caps.data?.items ?? []).filter((c) => c.system).map((c) => c.task_type))]}
          onClose={() => setEditing(undefined)}
        />
      )}
    </div>
  );
}

function CapabilityModal({
  capability,
  taskTypes,
  onClose,
}: {
  capability: Capability | undefined;
  taskTypes: string[];
  onClose: () => void;
}) {
  const qc = useQueryClient();
  const [f, setF] = useState({
    name: capability?.name ?? '',
    description: capability?.description ?? '',
    task_type: capability?.task_type ?? taskTypes[0] ?? '',
    target_types: capability?.target_types ?? [],
    input_schema: JSON.stringify(capability?.input_schema ?? { type: 'object', properties: {} }, null, 2),
    defaults: JSON.stringify(capability?.defaults ?? {}, null, 2),
  });
  const [errors, setErrors] = useState<FieldErrors>({});
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) =>
      capability ? api.patch(`/api/v1/capabilities/${capability.id}`, body) : api.post('/api/v1/capabilities', body),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: KEY });
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v: FieldErrors = {};
    const n = validateName(f.name);
    if (n) v.name = n;
    if (!f.task_type) v.task_type = 'Pick the task type it runs.';
    const schema = parseJsonObject(f.input_schema);
    if (schema.error) v.input_schema = schema.error;
    const defaults = parseJsonObject(f.defaults);
    if (defaults.error) v.defaults = defaults.error;
    setErrors(v);
    if (Object.keys(v).length) return;
    save.mutate({
      name: f.name.trim(),
      description: f.description,
      task_type: f.task_type,
      target_types: f.target_types,
      input_schema: schema.value,
      defaults: defaults.value,
    });
  };
  return (
    <Modal open onClose={onClose} title={capability ? `Edit ${capability.name}` : 'New capability'} wide>
      <form onSubmit={submit} className="space-y-4" noValidate>
        <div className="grid gap-4 sm:grid-cols-2">
          <TextInput
            label="Name"
            value={f.name}
            error={errors.name}
            onChange={(e) => setF({ ...f, name: e.target.value })}
            autoFocus
          />
          <SelectInput
            label="Task type"
            value={f.task_type}
            error={errors.task_type}
            onChange={(e) => setF({ ...f, task_type: e.target.value })}
          >
            {(taskTypes.length ? taskTypes : [f.task_type]).map((t) => (
              <option key={t}>{t}</option>
            ))}
          </SelectInput>
        </div>
        <TextInput
          label="Description"
          value={f.description}
          onChange={(e) => setF({ ...f, description: e.target.value })}
        />
        <fieldset>
          <legend className="text-sm font-medium text-slate-700 dark:text-slate-300">Works with targets of type</legend>
          <div className="mt-1 flex flex-wrap gap-4">
            {TARGET_TYPES.map((t) => (
              <label key={t} className="flex items-center gap-1.5 text-sm">
                <input
                  type="checkbox"
                  checked={f.target_types.includes(t)}
                  onChange={(e) =>
                    setF({
                      ...f,
                      target_types: e.target.checked ? [...f.target_types, t] : f.target_types.filter((x) => x !== t),
                    })
                  }
                />
                {t}
              </label>
            ))}
          </div>
        </fieldset>
        <div className="grid gap-4 md:grid-cols-2">
          <TextArea
            label="Input schema (JSON Schema)"
            rows={10}
            value={f.input_schema}
            error={errors.input_schema}
            onChange={(e) => setF({ ...f, input_schema: e.target.value })}
          />
          <TextArea
            label="Defaults (JSON)"
            rows={10}
            value={f.defaults}
            error={errors.defaults}
            hint="Merged under the step's `with`."
            onChange={(e) => setF({ ...f, defaults: e.target.value })}
          />
        </div>
        <FormError error={save.error} />
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" busy={save.isPending}>
            {capability ? 'Save' : 'Create capability'}
          </Button>
        </div>
      </form>
    </Modal>
  );
}
