/** Field → message; empty when the form is valid. Mirrors the server's rules so mistakes show before sending. */
export type FieldErrors = Record<string, string>;

export function validatePasswordChange(v: { current: string; next: string; confirm: string }): FieldErrors {
  const e: FieldErrors = {};
  if (!v.current) e.current = 'Enter your current password.';
  if (v.next.length < 8) e.next = 'Use at least 8 characters.';
  else if (v.next.length > 256) e.next = 'Use at most 256 characters.';
  else if (v.next === v.current) e.next = 'The new password must differ from the current one.';
  if (v.confirm !== v.next) e.confirm = 'The passwords do not match.';
  return e;
}

const USERNAME = /^[A-Za-z0-9_.@-]+$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function validateNewUser(v: { username: string; email: string; password: string }): FieldErrors {
  const e: FieldErrors = {};
  if (v.username.length < 3 || v.username.length > 64) e.username = 'Use 3 to 64 characters.';
  else if (!USERNAME.test(v.username)) e.username = 'Use letters, digits and _ . @ - only.';
  if (!EMAIL.test(v.email)) e.email = 'Enter an email address.';
  if (v.password && v.password.length < 8) e.password = 'Use at least 8 characters, or leave empty to generate one.';
  return e;
}

export function validateApiKey(v: { name: string; expiresInDays: string }): FieldErrors {
  const e: FieldErrors = {};
  if (!v.name.trim()) e.name = 'Give the key a name, e.g. the script that will use it.';
  else if (v.name.length > 100) e.name = 'Use at most 100 characters.';
  if (v.expiresInDays !== '') {
    const n = Number(v.expiresInDays);
    if (!Number.isInteger(n) || n < 1 || n > 3650) e.expiresInDays = 'A whole number of days from 1 to 3650.';
  }
  return e;
}

/** Names of agents, targets, workflows: what the server accepts as a readable reference. */
export function validateName(name: string): string | undefined {
  if (!name.trim()) return 'Required.';
  if (name.length > 100) return 'Use at most 100 characters.';
  if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/.test(name))
    return 'Start with a letter or digit; then letters, digits, spaces, _ . -';
  return undefined;
}

/** Parses a JSON object typed into a textarea; `{ error }` says why it is not one. */
export function parseJsonObject(text: string): { value?: Record<string, unknown>; error?: string } {
  if (!text.trim()) return { value: {} };
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'Must be a JSON object { … }.' };
    return { value: v as Record<string, unknown> };
  } catch (err) {
    return { error: `Not valid JSON: ${(err as Error).message}` };
  }
}
