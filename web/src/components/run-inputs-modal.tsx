import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router-dom';
import { coerceInputs, inputFields } from '../lib/run-inputs';
import { workflowsApi } from '../lib/workflows-api';
import { Button, FormError, Modal, SelectInput, TextArea, TextInput } from './ui';

/** randomUUID exists only in secure contexts (https, localhost); a plain-http LAN address has getRandomValues. */
function randomKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** "Run" with a form built from the workflow's declared inputs; opens the live run page on success. */
export function RunInputsModal({
  workflow,
  open,
  onClose,
}: {
  workflow: { id: string; name: string; definition: Record<string, unknown> } | undefined;
  open: boolean;
  onClose: () => void;
}) {
  const fields = inputFields(workflow?.definition);
  const [values, setValues] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const value = (name: string, initial: string) => values[name] ?? initial;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!workflow) return;
    const merged = Object.fromEntries(fields.map((f) => [f.name, value(f.name, f.initial)]));
    const c = coerceInputs(fields, merged);
    setErrors(c.errors);
    if (Object.keys(c.errors).length) return;
    setBusy(true);
    setError(undefined);
    try {
      const run = await workflowsApi.run(workflow.id, c.inputs, randomKey());
      onClose();
      navigate(`/runs/${run.run_id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal open={open} onClose={onClose} title={`Run ${workflow?.name ?? ''}`}>
      <form onSubmit={submit} className="space-y-4" noValidate>
        {fields.length === 0 && <p className="text-sm text-slate-500">This workflow takes no inputs.</p>}
        {fields.map((f) => {
          const label = `${f.name}${f.spec.required && f.spec.default === undefined ? ' *' : ''}`;
          const hint = [f.spec.description, `${f.spec.type}`].filter(Boolean).join(' · ');
          const common = { label, hint, error: errors[f.name], name: f.name };
          const set = (v: string) => setValues({ ...values, [f.name]: v });
          if (f.spec.type === 'boolean')
            return (
              <SelectInput
                key={f.name}
                {...common}
                value={value(f.name, f.initial)}
                onChange={(e) => set(e.target.value)}
              >
                <option value="true">true</option>
                <option value="false">false</option>
              </SelectInput>
            );
          if (f.spec.type === 'object' || f.spec.type === 'array')
            return (
              <TextArea
                key={f.name}
                rows={4}
                {...common}
                value={value(f.name, f.initial)}
                onChange={(e) => set(e.target.value)}
              />
            );
          return (
            <TextInput
              key={f.name}
              {...common}
              inputMode={f.spec.type === 'string' ? undefined : 'decimal'}
              value={value(f.name, f.initial)}
              onChange={(e) => set(e.target.value)}
            />
          );
        })}
        <FormError error={error} />
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" busy={busy}>
            Start run
          </Button>
        </div>
      </form>
    </Modal>
  );
}
