import type { FieldErrors } from './validation';
import { validateName } from './validation';

export type TargetType = 'filesystem' | 'http' | 'shell';
export type AuthType = 'none' | 'bearer' | 'basic' | 'header';

/** The create-target form as typed; `toTargetBody` turns it into the API's `config` shape. */
export interface TargetForm {
  name: string;
  description: string;
  type: TargetType;
  root: string;
  readOnly: boolean;
  baseUrl: string;
  authType: AuthType;
  token: string;
  username: string;
  password: string;
  headerName: string;
  headerValue: string;
  allowedHosts: string;
  allowPrivate: boolean;
  cwd: string;
  allowedPrograms: string;
  timeoutMs: string;
}

export const emptyTargetForm: TargetForm = {
  name: '',
  description: '',
  type: 'filesystem',
  root: '',
  readOnly: true,
  baseUrl: '',
  authType: 'none',
  token: '',
  username: '',
  password: '',
  headerName: '',
  headerValue: '',
  allowedHosts: '',
  allowPrivate: false,
  cwd: '',
  allowedPrograms: '',
  timeoutMs: '',
};

const list = (s: string) =>
  s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

export function validateTargetForm(f: TargetForm): FieldErrors {
  const e: FieldErrors = {};
  const n = validateName(f.name);
  if (n) e.name = n;
  if (f.type === 'filesystem' && !f.root.startsWith('/')) e.root = 'An absolute folder path, e.g. /srv/data.';
  if (f.type === 'http') {
    if (!/^https?:\/\/[^\s/]+/.test(f.baseUrl)) e.baseUrl = 'A URL starting with http:// or https://.';
    if (f.authType === 'bearer' && !f.token) e.token = 'Enter the token.';
    if (f.authType === 'basic' && !f.username) e.username = 'Enter the user name.';
    if (f.authType === 'basic' && !f.password) e.password = 'Enter the password.';
    if (f.authType === 'header' && !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(f.headerName))
      e.headerName = 'A header name such as X-Api-Key.';
    if (f.authType === 'header' && !f.headerValue) e.headerValue = 'Enter the value.';
  }
  if (f.type === 'shell') {
    if (!f.cwd.startsWith('/')) e.cwd = 'An absolute folder path.';
    if (!list(f.allowedPrograms).length)
      e.allowedPrograms = 'List at least one program the agent may run, e.g. ls, git.';
  }
  if (f.timeoutMs && (!/^\d+$/.test(f.timeoutMs) || Number(f.timeoutMs) < 100 || Number(f.timeoutMs) > 600_000))
    e.timeoutMs = 'Milliseconds from 100 to 600000.';
  return e;
}

export function toTargetBody(f: TargetForm): {
  name: string;
  description: string;
  type: TargetType;
  config: Record<string, unknown>;
} {
  const timeout = f.timeoutMs ? { timeout_ms: Number(f.timeoutMs) } : {};
  let config: Record<string, unknown>;
  if (f.type === 'filesystem') config = { root: f.root, read_only: f.readOnly };
  else if (f.type === 'http') {
    const auth =
      f.authType === 'bearer'
        ? { type: 'bearer', token: f.token }
        : f.authType === 'basic'
          ? { type: 'basic', username: f.username, password: f.password }
          : f.authType === 'header'
            ? { type: 'header', name: f.headerName, value: f.headerValue }
            : { type: 'none' };
    const hosts = list(f.allowedHosts);
    config = {
      base_url: f.baseUrl,
      auth,
      allow_private: f.allowPrivate,
      ...(hosts.length ? { allowed_hosts: hosts } : {}),
      ...timeout,
    };
  } else config = { cwd: f.cwd, allowed_programs: list(f.allowedPrograms), ...timeout };
  return { name: f.name.trim(), description: f.description, type: f.type, config };
}
