import { useState, type FormEvent } from 'react';
import { Button, FormError, TextInput } from '../components/ui';
import { api } from '../lib/api';
import { useAuth } from '../lib/auth';
import { validatePasswordChange, type FieldErrors } from '../lib/validation';

export function ChangePasswordPage({ firstRun, onDone }: { firstRun?: boolean; onDone?: () => void }) {
  const { user, login, logout } = useAuth();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const v = validatePasswordChange({ current, next, confirm });
    setErrors(v);
    if (Object.keys(v).length > 0) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.post('/api/v1/auth/password', { current_password: current, new_password: next });
      // A fresh sign-in gives tokens that no longer carry the "must change password" state.
      if (user) await login(user.username, next);
      setDone(true);
      setCurrent('');
      setNext('');
      setConfirm('');
      onDone?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const form = (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <TextInput
        label="Current password"
        type="password"
        autoComplete="current-password"
        value={current}
        error={errors.current}
        onChange={(e) => setCurrent(e.target.value)}
      />
      <TextInput
        label="New password"
        type="password"
        autoComplete="new-password"
        hint="At least 8 characters."
        value={next}
        error={errors.next}
        onChange={(e) => setNext(e.target.value)}
      />
      <TextInput
        label="Repeat the new password"
        type="password"
        autoComplete="new-password"
        value={confirm}
        error={errors.confirm}
        onChange={(e) => setConfirm(e.target.value)}
      />
      <FormError error={error} />
      {done && !firstRun && <p className="text-sm text-emerald-600">Password changed.</p>}
      <Button type="submit" busy={busy} className={firstRun ? 'w-full' : ''}>
        Change password
      </Button>
    </form>
  );

  if (!firstRun) return form;
  return (
    <div className="flex min-h-screen items-center justify-center px-4">
      <div className="w-full max-w-sm">
        <h1 className="mb-1 text-center text-xl font-semibold tracking-tight">Choose a new password</h1>
        <p className="mb-6 text-center text-sm text-slate-500">
          {user?.username}, your password was generated or reset. Pick your own before you continue.
        </p>
        <div className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800">
          {form}
        </div>
        <p className="mt-4 text-center text-xs">
          <button type="button" className="text-slate-500 underline" onClick={() => void logout()}>
            Sign out
          </button>
        </p>
      </div>
    </div>
  );
}
