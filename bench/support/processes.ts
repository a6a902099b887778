/**
 * Helpers shared by the benchmarks: build freshness, servers in child processes pinned to one core,
 * waiting for a URL, reading a process's resident memory.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const mainJs = path.join(root, 'dist', 'main.js');

/** A bare Fastify hello-world, the baseline every HTTP figure is compared with. Port comes from PORT. */
export const helloWorldSource = `
import Fastify from 'fastify';
const app = Fastify();
app.get('/', async () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
`;

const newestMtime = (dir: string): number => {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  }
  return newest;
};

/** Runs `npm run build` when dist/main.js is missing or older than any source file. */
export function ensureBuilt(): void {
  const built = fs.existsSync(mainJs) ? fs.statSync(mainJs).mtimeMs : 0;
  const distNewest = fs.existsSync(path.join(root, 'dist')) ? newestJs(path.join(root, 'dist')) : 0;
  if (built > 0 && Math.max(built, distNewest) >= newestMtime(path.join(root, 'src'))) return;
  console.log('dist/ is missing or older than src/: running npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    if (!fs.existsSync(mainJs)) throw new Error('npm run build failed and dist/main.js does not exist');
    console.warn('warning: npm run build reported errors; measuring the dist/ it emitted');
  }
}

function newestJs(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestJs(full));
    else if (entry.name.endsWith('.js')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const tempDirs: string[] = [];

/** A fresh folder under the OS temp dir (removed at exit after removeTempDirsOnExit). */
export function tempDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `clarion-bench-${label}-`));
  tempDirs.push(dir);
  return dir;
}

/**
 * Removes every tempDir of this run when the process exits. Servers write their request logs there: tens of
 * MB per run would pile up in /tmp otherwise. Not for runs whose output points into them (CPU profiles).
 */
export function removeTempDirsOnExit(): void {
  process.once('exit', () => {
    for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  });
}

const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
const cores = os.availableParallelism();

/**
 * Pins this process (the load generator) to core 0 so a server pinned to core 1 has a core of its own.
 * Returns a note for the output.
 */
export function pinSelf(): string {
  if (!hasTaskset || cores < 2) return `not pinned (${hasTaskset ? `${cores} core` : 'no taskset'})`;
  spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
  return 'load generator on core 0, server on core 1 (taskset)';
}

let niceness = 0;

/**
 * `--nice N` (negative, needs root): runs the load generator and every server at that scheduling priority,
 * so other work on a shared machine disturbs the measurement less. Baseline and Clarion get the same.
 * Keep such runs short: for their length they take the CPU from everyone else on the machine.
 */
export function applyNice(args: string[]): string {
  const n = Number(argValue(args, 'nice') ?? 0);
  if (!Number.isInteger(n) || n === 0) return '';
  const r = spawnSync('renice', ['-n', String(n), '-p', String(process.pid)]);
  if (r.status !== 0) throw new Error(`--nice ${n}: renice failed: ${r.stderr.toString().trim()}`);
  niceness = n;
  // With scheduler autogroups, nice only ranks processes within their session; sessions share the CPU
  // evenly. Raise this session's group too (children inherit it), and put it back on exit.
  const autogroup = '/proc/self/autogroup';
  if (fs.existsSync(autogroup)) {
    const previous = /nice\s+(-?\d+)/.exec(fs.readFileSync(autogroup, 'utf8'))?.[1] ?? '0';
    try {
      fs.writeFileSync(autogroup, String(n));
      process.once('exit', () => fs.writeFileSync(autogroup, previous));
      return `, nice ${n} (process and session autogroup)`;
    } catch (err) {
      return `, nice ${n} (autogroup unchanged: ${(err as Error).message})`;
    }
  }
  return `, nice ${n}`;
}

/**
 * The machine and how busy it was: the figures of a shared machine are only comparable within one run,
 * and only when the load average stayed low.
 */
export function machineNote(): string {
  const [one, five] = os.loadavg();
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}, load average ${one!.toFixed(2)} (1 min) ${five!.toFixed(2)} (5 min)`;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  /** Everything the process wrote to stdout and stderr (kept for error messages). */
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Spawns `node ARGS` on core 1 (when the machine has two). Its stdout and stderr go to `logFile`, not through
 * a pipe, so the load generator never spends its core reading a server's request logs.
 */
export function spawnNode(args: string[], env: NodeJS.ProcessEnv, logFile: string): Spawned {
  const pinned = hasTaskset && cores >= 2 ? ['taskset', '-c', '1'] : [];
  // nice before exec, so every thread of the server (GC, thread pool) starts at that priority.
  const chain = [...(niceness ? ['nice', '-n', String(niceness)] : []), ...pinned, process.execPath, ...args];
  const [cmd, ...argv] = chain as [string, ...string[]];
  // A CLARION_* variable the server does not know stops its start, so only the ones given here pass.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLARION_')));
  const fd = fs.openSync(logFile, 'w');
  const child = spawn(cmd, argv, { cwd: root, env: { ...inherited, ...env }, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    pid: child.pid!,
    output: () => {
      const text = fs.readFileSync(logFile, 'utf8');
      return text.length > 8000 ? `${text.slice(0, 8000)}\n...` : text;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `url` until it answers 200; resolves to the milliseconds waited. Fails if the process exits. */
export async function waitFor200(url: string, proc: Spawned, timeoutMs = 30_000, intervalMs = 5): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(
        `process exited (${proc.child.exitCode ?? proc.child.signalCode}) before ${url} answered:\n${proc.output()}`,
      );
    }
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - start;
    } catch {
      // not listening yet
    }
    if (performance.now() - start > timeoutMs) {
      throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resident set size of a process in MB, from /proc/<pid>/status (VmRSS). */
export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** The value at `p` percent of `sorted` (ascending), by the nearest rank at or below it; NaN when it is empty. */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;

export const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Formats rows as an aligned text table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Every value of a repeatable `--name=value` / `--name value` option. */
export function argValues(args: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}` && args[i + 1] !== undefined) out.push(args[++i]!);
    else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out;
}

/**
 * Extra settings for the Clarion under test, for experiments: `--env KEY=VALUE` (repeatable) adds an
 * environment variable, `--node-flag FLAG` (repeatable) a Node.js flag. Both are printed with the results.
 */
export function experimentArgs(args: string[]): { env: Record<string, string>; nodeFlags: string[]; note: string } {
  const env: Record<string, string> = {};
  for (const kv of argValues(args, 'env')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--env wants KEY=VALUE, got ${kv}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const nodeFlags = argValues(args, 'node-flag');
  const parts = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...nodeFlags];
  return { env, nodeFlags, note: parts.length ? `experiment: ${parts.join(' ')}` : '' };
}

/** `--name=value` or `--name value` from the bench args. */
export function argValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}`) return args[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
