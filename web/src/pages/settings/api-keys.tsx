import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Check, Copy, KeyRound, Plus } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import { Badge, Button, EmptyState, FormError, Modal, QueryView, Table, Td, TextInput } from '../../components/ui';
import { api } from '../../lib/api';
import { dateTime, relativeTime } from '../../lib/format';
import { useGet } from '../../lib/queries';
import { validateApiKey, type FieldErrors } from '../../lib/validation';

interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: string[] | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  created_at: string;
}

export function ApiKeysTab() {
  const keys = useGet<{ items: ApiKey[] }>('/api/v1/api-keys');
  const qc = useQueryClient();
  const [creating, setCreating] = useState(false);
  const revoke = useMutation({
    mutationFn: (id: string) => api.delete(`/api/v1/api-keys/${id}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['/api', '/v1', '/api-keys'] }),
  });

  return (
    <div className="space-y-4">
      <div className="flex items-center justify-between">
        <p className="text-sm text-slate-500 dark:text-slate-400">
          Keys let scripts and other programs call the API as you. A key is shown once, when it is created.
        </p>
        <Button onClick={() => setCreating(true)}>
          <Plus className="size-4" /> New API key
        </Button>
      </div>
      <QueryView
        query={keys}
        isEmpty={(data) => !data.items.length}
        empty={
          <EmptyState icon={<KeyRound className="size-8" />} title="No API keys yet">
            Create one to use Clarion from scripts, CI or the OpenAI-compatible endpoint.
          </EmptyState>
        }
      >
        {(data) => (
          <Table head={['Name', 'Key', 'Scopes', 'Last used', 'Expires', 'Status', '']}>
            {data.items.map((k) => (
              <tr key={k.id}>
                <Td className="font-medium">{k.name}</Td>
                <Td className="font-mono text-xs">{k.prefix}…</Td>
                <Td className="text-xs">{k.scopes?.length ? k.scopes.join(', ') : 'all of yours'}</Td>
                <Td className="text-xs text-slate-500">{relativeTime(k.last_used_at)}</Td>
                <Td className="text-xs text-slate-500">{k.expires_at ? dateTime(k.expires_at) : 'never'}</Td>
                <Td>{k.revoked_at ? <Badge tone="gray">revoked</Badge> : <Badge tone="green">active</Badge>}</Td>
                <Td className="text-right">
                  {!k.revoked_at && (
                    <Button
                      variant="ghost"
                      className="text-rose-600"
                      busy={revoke.isPending && revoke.variables === k.id}
                      onClick={() => {
                        if (confirm(`Revoke the key "${k.name}"? Programs using it stop working at once.`))
                          revoke.mutate(k.id);
                      }}
                    >
                      Revoke
                    </Button>
                  )}
                </Td>
              </tr>
            ))}
          </Table>
        )}
      </QueryView>
      <FormError error={revoke.error} />
      <CreateKeyModal open={creating} onClose={() => setCreating(false)} />
    </div>
  );
}

function CreateKeyModal({ open, onClose }: { open: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [created, setCreated] = useState<string>();
  const [copied, setCopied] = useState(false);
  const create = useMutation({
    mutationFn: () =>
      api.post<{ api_key: ApiKey; key: string }>('/api/v1/api-keys', {
        name: name.trim(),
        ...(days ? { expires_in_days: Number(days) } : {}),
      }),
    onSuccess: (res) => {
      setCreated(res.key);
      void qc.invalidateQueries({ queryKey: ['/api', '/v1', '/api-keys'] });
    },
  });

  const close = () => {
    setName('');
    setDays('');
    setErrors({});
    setCreated(undefined);
    setCopied(false);
    create.reset();
    onClose();
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v = validateApiKey({ name, expiresInDays: days });
    setErrors(v);
    if (Object.keys(v).length === 0) create.mutate();
  };

  return (
    <Modal open={open} onClose={close} title={created ? 'Your new API key' : 'New API key'}>
      {created ? (
        <div className="space-y-4">
          <p className="text-sm">
            Copy the key now. <strong>It will not be shown again</strong>; only its first characters are kept to
            recognise it.
          </p>
          <div className="flex items-center gap-2">
            <code
              data-testid="new-api-key"
              className="flex-1 break-all rounded-md bg-slate-100 px-3 py-2 font-mono text-sm dark:bg-slate-800"
            >
              {created}
            </code>
            <Button
              variant="secondary"
              aria-label="Copy the key"
              onClick={() => {
                void navigator.clipboard?.writeText(created).then(() => setCopied(true));
              }}
            >
              {copied ? <Check className="size-4" /> : <Copy className="size-4" />}
            </Button>
          </div>
          <div className="flex justify-end">
            <Button onClick={close}>Done</Button>
          </div>
        </div>
      ) : (
        <form onSubmit={submit} className="space-y-4" noValidate>
          <TextInput
            label="Name"
            value={name}
            autoFocus
            error={errors.name}
            hint="What will use it, e.g. “nightly report script”."
            onChange={(e) => setName(e.target.value)}
          />
          <TextInput
            label="Expires after (days)"
            inputMode="numeric"
            value={days}
            error={errors.expiresInDays}
            hint="Leave empty for a key that does not expire."
            onChange={(e) => setDays(e.target.value)}
          />
          <FormError error={create.error} />
          <div className="flex justify-end gap-2">
            <Button variant="secondary" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" busy={create.isPending}>
              Create key
            </Button>
          </div>
        </form>
      )}
    </Modal>
  );
}
