import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { AppError } from '../../errors/index.js';

export interface RunCommandOptions {
  cwd: string;
  allowedPrograms: string[];
  env?: Record<string, string>;
  timeoutMs: number;
  maxOutputBytes: number;
  signal?: AbortSignal;
  stdin?: string;
}

export interface RunCommandResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
  durationMs: number;
}

/** The program named by argv[0] must be listed exactly: a bare name is looked up on PATH, a path is used as is. */
export function isProgramAllowed(program: string, allowed: readonly string[]): boolean {
  return program.length > 0 && allowed.includes(program);
}

/**
 * Runs one program with an argv array, never through a shell: metacharacters in arguments stay
 * literal. The child gets its own process group, which is killed as a whole on timeout, abort, or
 * when the program exits leaving background children behind. The environment holds only PATH and
 * the given variables. Output beyond `maxOutputBytes` per stream is dropped and flagged.
 */
export function runCommand(argv: string[], opts: RunCommandOptions): Promise<RunCommandResult> {
  const program = argv[0] ?? '';
  if (!isProgramAllowed(program, opts.allowedPrograms)) {
    return Promise.reject(
      new AppError('PROGRAM_NOT_ALLOWED', `The program ${JSON.stringify(program)} is not in the allowlist.`, {
        program,
        allowed: opts.allowedPrograms,
      }),
    );
  }
  if (opts.signal?.aborted) return Promise.reject(new AppError('OUTBOUND_FAILED', 'The command was cancelled.'));

  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(program, argv.slice(1), {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...opts.env },
      detached: true,
      shell: false,
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    let timedOut = false;
    let truncated = false;
    const out = { stdout: [] as Buffer[], stderr: [] as Buffer[], stdoutBytes: 0, stderrBytes: 0 };
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const key = stream === 'stdout' ? 'stdoutBytes' : 'stderrBytes';
      const room = opts.maxOutputBytes - out[key];
      if (room <= 0) {
        truncated = true;
        return;
      }
      if (chunk.length > room) truncated = true;
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      out[stream].push(kept);
      out[key] += kept.length;
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    child.stdin.on('error', () => {
      // the program may exit without reading its input
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    const onAbort = () => killGroup();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    // Background children left by the program keep the pipes open; they go with the group.
    child.on('exit', () => killGroup());
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      // spawn reports a missing working folder as ENOENT too; say which one it is.
      const noCwd = err.code === 'ENOENT' && !existsSync(opts.cwd);
      const why = noCwd ? `the working folder ${opts.cwd} does not exist` : (err.code ?? err.message);
      reject(new AppError('PROGRAM_NOT_FOUND', `Could not start ${JSON.stringify(program)}: ${why}.`, { program }));
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted && !timedOut) {
        reject(new AppError('OUTBOUND_FAILED', 'The command was cancelled.'));
        return;
      }
      resolve({
        exitCode: code,
        signal: sig,
        stdout: Buffer.concat(out.stdout).toString('utf8'),
        stderr: Buffer.concat(out.stderr).toString('utf8'),
        truncated,
        timedOut,
        durationMs: Math.round(performance.now() - started),
      });
    });
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
    else child.stdin.end();
  });
}
