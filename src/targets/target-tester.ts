import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isAppError } from '../errors/index.js';
import type { FilesystemTargetConfig, HttpTargetConfig, ShellTargetConfig } from './target-config.js';
import type { ResolvedTarget, TargetStatus } from './target.js';
import { guardedFetch } from './http/guarded-fetch.js';
import { runCommand } from './shell/run-command.js';

export interface ProbeResult {
  ok: boolean;
  status: TargetStatus;
  message: string;
  details?: Record<string, unknown>;
}

const ok = (message: string, details?: Record<string, unknown>): ProbeResult => ({
  ok: true,
  status: 'connected',
  message,
  ...(details ? { details } : {}),
});
const fail = (message: string, details?: Record<string, unknown>): ProbeResult => ({
  ok: false,
  status: 'error',
  message,
  ...(details ? { details } : {}),
});

async function checkFolder(dir: string, write: boolean, what: string): Promise<ProbeResult | undefined> {
  let stat;
  try {
    stat = await fs.stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail(`The ${what} ${dir} does not exist.`, { path: dir, reason: 'not_found' });
    return fail(`The ${what} ${dir} cannot be read (${code}).`, { path: dir, reason: code });
  }
  if (!stat.isDirectory()) return fail(`The ${what} ${dir} is not a folder.`, { path: dir, reason: 'not_a_folder' });
  try {
    await fs.access(dir, fsc.R_OK | fsc.X_OK);
  } catch {
    return fail(`The ${what} ${dir} is not readable by the Clarion process.`, { path: dir, reason: 'not_readable' });
  }
  if (write) {
    try {
      await fs.access(dir, fsc.W_OK);
    } catch {
      return fail(`The ${what} ${dir} is not writable, but the target is read-write.`, {
        path: dir,
        reason: 'not_writable',
      });
    }
  }
  return undefined;
}

async function probeFilesystem(c: FilesystemTargetConfig): Promise<ProbeResult> {
  const problem = await checkFolder(c.root, !c.read_only, 'folder');
  if (problem) return problem;
  return ok(`The folder ${c.root} exists and is ${c.read_only ? 'readable' : 'readable and writable'}.`);
}

/** Default headers plus the auth header, as every request to the target sends them. */
export function httpRequestHeaders(c: HttpTargetConfig): Record<string, string> {
  const headers: Record<string, string> = { ...c.headers };
  const a = c.auth;
  if (a?.type === 'bearer') headers.authorization = `Bearer ${a.token}`;
  else if (a?.type === 'basic')
    headers.authorization = `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
  else if (a?.type === 'header') headers[a.name] = a.value;
  return headers;
}

async function probeHttp(c: HttpTargetConfig): Promise<ProbeResult> {
  try {
    const res = await guardedFetch(c.base_url, {
      method: 'GET',
      headers: httpRequestHeaders(c),
      allowPrivate: c.allow_private === true,
      ...(c.allowed_hosts ? { allowedHosts: c.allowed_hosts } : {}),
      timeoutMs: Math.min(c.timeout_ms ?? 10_000, 10_000),
      maxBytes: 1024 * 1024,
    });
    const details = { http_status: res.status };
    if (res.status === 401 || res.status === 403) {
      return fail(`${c.base_url} answered HTTP ${res.status}: the credentials were refused.`, details);
    }
    if (res.status >= 500) return fail(`${c.base_url} answered HTTP ${res.status} (a server error).`, details);
    return ok(`${c.base_url} answered HTTP ${res.status}.`, details);
  } catch (err) {
    if (isAppError(err) && err.code === 'OUTBOUND_TOO_LARGE') return ok(`${c.base_url} answered.`);
    if (isAppError(err)) return fail(`${c.base_url} cannot be reached: ${err.message}`, { code: err.code });
    throw err;
  }
}

async function findOnPath(program: string): Promise<string | undefined> {
  const candidates = program.includes('/')
    ? [program]
    : (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, program));
  for (const c of candidates) {
    try {
      await fs.access(c, fsc.X_OK);
      if ((await fs.stat(c)).isFile()) return c;
    } catch {
      // next
    }
  }
  return undefined;
}

async function probeShell(c: ShellTargetConfig): Promise<ProbeResult> {
  const problem = await checkFolder(c.cwd, false, 'working folder');
  if (problem) return problem;
  const missing: string[] = [];
  for (const p of c.allowed_programs) if (!(await findOnPath(p))) missing.push(p);
  if (missing.length > 0) {
    return fail(`Not found or not executable: ${missing.join(', ')}.`, { missing_programs: missing });
  }
  const program = c.allowed_programs[0]!;
  try {
    const res = await runCommand([program, '--version'], {
      cwd: c.cwd,
      allowedPrograms: c.allowed_programs,
      ...(c.env ? { env: c.env } : {}),
      timeoutMs: Math.min(c.timeout_ms ?? 5000, 5000),
      maxOutputBytes: 4096,
    });
    if (res.timedOut) return fail(`${program} --version did not finish in time.`, { program });
    const version = (res.stdout || res.stderr).split('\n')[0]?.trim() ?? '';
    return ok(`${program} runs${version ? `: ${version.slice(0, 200)}` : ''}.`, {
      program,
      exit_code: res.exitCode,
    });
  } catch (err) {
    if (isAppError(err)) return fail(err.message, { code: err.code, program });
    throw err;
  }
}

/** Really checks that the target can be used, and says why not. */
export async function probeTarget(target: ResolvedTarget): Promise<ProbeResult> {
  switch (target.type) {
    case 'filesystem':
      return probeFilesystem(target.config);
    case 'http':
      return probeHttp(target.config);
    case 'shell':
      return probeShell(target.config);
    default:
      return fail(`Targets of type ${target.type} cannot be tested yet.`);
  }
}
