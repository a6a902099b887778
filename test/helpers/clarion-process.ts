import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const main = path.join(root, 'src/main.ts');

/** A clean environment: only what Node needs, plus the given CLARION_* settings. */
function envWith(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, TZ: 'UTC', ...env };
}

/** Starts `clarion <args>` from the sources (through tsx) as a child process. */
export function startClarion(args: string[], env: Record<string, string>, cwd = root): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    cwd,
    env: envWith(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface ClarionResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `clarion <args>` to completion (each run costs about a second of start-up through tsx). */
export function runClarion(args: string[], env: Record<string, string>, cwd = root): Promise<ClarionResult> {
  const child = startClarion(args, env, cwd);
  return collect(child);
}

export function collect(child: ChildProcess): Promise<ClarionResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Resolves with the first match of `re` in what the child has written to stdout, or rejects when it ends first. */
export function waitForOutput(child: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      seen += d.toString();
      const m = re.exec(seen);
      if (m) {
        child.stdout!.off('data', onData);
        child.off('close', onClose);
        resolve(m);
      }
    };
    const onClose = (code: number | null) => reject(new Error(`exited ${code} before ${re}: ${seen}`));
    child.stdout!.on('data', onData);
    child.on('close', onClose);
  });
}
