import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Plus } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import {
  Badge,
  Button,
  Card,
  FormError,
  Modal,
  QueryView,
  SelectInput,
  Table,
  Td,
  TextInput,
} from '../../components/ui';
import { api, type Page, type User } from '../../lib/api';
import { useAuth } from '../../lib/auth';
import { relativeTime } from '../../lib/format';
import { useGet } from '../../lib/queries';
import { validateNewUser, type FieldErrors } from '../../lib/validation';

interface RoleInfo {
  name: string;
  description: string;
  permissions: string[];
}

const USERS_KEY = ['/api', '/v1', '/users'];

export function UsersTab() {
  const { can, user: me } = useAuth();
  const users = useGet<Page<User>>('/api/v1/users?limit=200');
  const roles = useGet<RoleInfo[]>('/api/v1/roles');
  const qc = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [shownPassword, setShownPassword] = useState<{ username: string; password: string }>();
  const update = useMutation({
    mutationFn: ({ id, body }: { id: string; body: Record<string, unknown> }) =>
      api.patch<User>(`/api/v1/users/${id}`, body),
    onSuccess: () => qc.invalidateQueries({ queryKey: USERS_KEY }),
  });
  const reset = useMutation({
    mutationFn: (u: User) => api.post<{ password: string }>(`/api/v1/users/${u.id}/reset-password`, {}),
    onSuccess: (res, u) => setShownPassword({ username: u.username, password: res.password }),
  });
  const manage = can('user:manage');

  return (
    <div className="space-y-6">
      <div className="flex items-center justify-between">
        <p className="text-sm text-slate-500 dark:text-slate-400">
          People who can sign in, and what their role lets them do.
        </p>
        {manage && (
          <Button onClick={() => setCreating(true)}>
            <Plus className="size-4" /> Add user
          </Button>
        )}
      </div>
      <QueryView query={users}>
        {(data) => (
          <Table head={['User', 'Email', 'Role', 'Status', 'Created', '']}>
            {data.items.map((u) => (
              <tr key={u.id}>
                <Td className="font-medium">
                  {u.username} {u.id === me?.id && <span className="text-xs text-slate-500">(you)</span>}
                </Td>
                <Td className="text-slate-600 dark:text-slate-400">{u.email}</Td>
                <Td>
                  {manage && u.id !== me?.id ? (
                    <select
                      aria-label={`Role of ${u.username}`}
                      className="rounded-md border-0 bg-transparent py-1 text-sm ring-1 ring-slate-300 dark:ring-slate-700"
                      value={u.role}
                      onChange={(e) => update.mutate({ id: u.id, body: { role: e.target.value } })}
                    >
                      {(roles.data ?? [{ name: u.role }]).map((r) => (
                        <option key={r.name} value={r.name}>
                          {r.name}
                        </option>
                      ))}
                    </select>
                  ) : (
                    <Badge tone="violet">{u.role}</Badge>
                  )}
                </Td>
                <Td>
                  {u.disabled ? (
                    <Badge tone="gray">disabled</Badge>
                  ) : u.must_change_password ? (
                    <Badge tone="amber">must change password</Badge>
                  ) : (
                    <Badge tone="green">active</Badge>
                  )}
                </Td>
                <Td className="text-xs text-slate-500">{relativeTime(u.created_at)}</Td>
                <Td className="whitespace-nowrap text-right">
                  {manage && u.id !== me?.id && (
                    <>
                      <Button
                        variant="ghost"
                        onClick={() => update.mutate({ id: u.id, body: { disabled: !u.disabled } })}
                      >
                        {u.disabled ? 'Enable' : 'Disable'}
                      </Button>
                      <Button
                        variant="ghost"
                        onClick={() => {
                          if (confirm(`Reset the password of ${u.username}? A new one is generated and shown once.`))
                            reset.mutate(u);
                        }}
                      >
                        Reset password
                      </Button>
                    </>
                  )}
                </Td>
              </tr>
            ))}
          </Table>
        )}
      </QueryView>
      <FormError error={update.error ?? reset.error} />

      <Card title="Roles">
        <QueryView query={roles} noRetry>
          {(data) => (
            <dl className="grid gap-4 md:grid-cols-3">
              {data.map((r) => (
                <div key={r.name} className="rounded-md p-3 ring-1 ring-slate-200 dark:ring-slate-800">
                  <dt className="font-medium">{r.name}</dt>
                  <dd className="mt-1 text-sm text-slate-500">{r.description}</dd>
                  <dd className="mt-2 flex flex-wrap gap-1">
                    {r.permissions.map((p) => (
                      <span
                        key={p}
                        className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-[11px] dark:bg-slate-800"
                      >
                        {p}
                      </span>
                    ))}
                  </dd>
                </div>
              ))}
            </dl>
          )}
        </QueryView>
      </Card>

      <CreateUserModal
        open={creating}
        roles={roles.data?.map((r) => r.name) ?? ['viewer', 'operator', 'admin']}
        onClose={() => setCreating(false)}
        onCreated={(username, password) => password && setShownPassword({ username, password })}
      />
      <Modal open={!!shownPassword} onClose={() => setShownPassword(undefined)} title="Password shown once">
        <p className="text-sm">
          Give this password to <strong>{shownPassword?.username}</strong>. They will be asked to choose their own at
          sign-in.
        </p>
        <code className="mt-3 block rounded-md bg-slate-100 px-3 py-2 font-mono text-sm dark:bg-slate-800">
          {shownPassword?.password}
        </code>
        <div className="mt-4 flex justify-end">
          <Button onClick={() => setShownPassword(undefined)}>Done</Button>
        </div>
      </Modal>
    </div>
  );
}

function CreateUserModal({
  open,
  roles,
  onClose,
  onCreated,
}: {
  open: boolean;
  roles: string[];
  onClose: () => void;
  onCreated: (username: string, password?: string) => void;
}) {
  const qc = useQueryClient();
  const [form, setForm] = useState({ username: '', email: '', password: '', role: 'operator' });
  const [errors, setErrors] = useState<FieldErrors>({});
  const create = useMutation({
    mutationFn: () =>
      api.post<{ user: User; password?: string }>('/api/v1/users', {
        username: form.username,
        email: form.email,
        role: form.role,
        ...(form.password ? { password: form.password } : {}),
      }),
    onSuccess: (res) => {
      void qc.invalidateQueries({ queryKey: USERS_KEY });
      onCreated(res.user.username, res.password);
      close();
    },
  });
  const close = () => {
    setForm({ username: '', email: '', password: '', role: 'operator' });
    setErrors({});
    create.reset();
    onClose();
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v = validateNewUser(form);
    setErrors(v);
    if (!Object.keys(v).length) create.mutate();
  };
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <Modal open={open} onClose={close} title="Add user">
      <form onSubmit={submit} className="space-y-4" noValidate>
        <TextInput
          label="Username"
          value={form.username}
          error={errors.username}
          onChange={set('username')}
          autoFocus
        />
        <TextInput label="Email" type="email" value={form.email} error={errors.email} onChange={set('email')} />
        <TextInput
          label="Password"
          type="password"
          autoComplete="new-password"
          value={form.password}
          error={errors.password}
          hint="Leave empty to generate one (shown once)."
          onChange={set('password')}
        />
        <SelectInput label="Role" value={form.role} onChange={set('role')}>
          {roles.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </SelectInput>
        <FormError error={create.error} />
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={close}>
            Cancel
          </Button>
          <Button type="submit" busy={create.isPending}>
            Add user
          </Button>
        </div>
      </form>
    </Modal>
  );
}
