/** An input as a workflow declares it (`inputs:` in the definition). */
export interface InputSpec {
  type: 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';
  required?: boolean;
  default?: unknown;
  description?: string;
}

export interface InputField {
  name: string;
  spec: InputSpec;
  /** What the form shows first: the default, as text (JSON for objects and arrays). */
  initial: string;
}

export function inputFields(definition: Record<string, unknown> | undefined): InputField[] {
  const inputs = definition?.inputs;
  if (!inputs || typeof inputs !== 'object' || Array.isArray(inputs)) return [];
  return Object.entries(inputs as Record<string, InputSpec>).map(([name, spec]) => ({
    name,
    spec,
    initial:
      spec.default === undefined
        ? spec.type === 'boolean'
          ? 'false'
          : ''
        : typeof spec.default === 'string'
          ? spec.default
          : JSON.stringify(spec.default),
  }));
}

/**
 * Turns the form's text values into typed inputs. An empty optional field is left out (the workflow's
 * default applies); a required one without a default is an error, as is text of the wrong type.
 */
export function coerceInputs(
  fields: InputField[],
  values: Record<string, string>,
): { inputs: Record<string, unknown>; errors: Record<string, string> } {
  const inputs: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const { name, spec } of fields) {
    const raw = values[name] ?? '';
    if (raw.trim() === '' && spec.type !== 'string' && spec.type !== 'boolean') {
      if (spec.required && spec.default === undefined) errors[name] = 'Required.';
      continue;
    }
    switch (spec.type) {
      case 'string':
        if (raw === '' && spec.required && spec.default === undefined) errors[name] = 'Required.';
        else if (raw !== '' || spec.default === undefined) inputs[name] = raw;
        break;
      case 'boolean':
        inputs[name] = raw === 'true';
        break;
      case 'number':
      case 'integer': {
        const n = Number(raw);
        if (!Number.isFinite(n)) errors[name] = 'Enter a number.';
        else if (spec.type === 'integer' && !Number.isInteger(n)) errors[name] = 'Enter a whole number.';
        else inputs[name] = n;
        break;
      }
      case 'object':
      case 'array': {
        try {
          const v: unknown = JSON.parse(raw);
          const ok =
            spec.type === 'array' ? Array.isArray(v) : typeof v === 'object' && v !== null && !Array.isArray(v);
          if (ok) inputs[name] = v;
          else errors[name] = spec.type === 'array' ? 'Enter a JSON array [ … ].' : 'Enter a JSON object { … }.';
        } catch {
          errors[name] = 'Not valid JSON.';
        }
        break;
      }
    }
  }
  return { inputs, errors };
}
