/**
 * Cost of the target security primitives against their unguarded baselines, measured in the same run:
 * - guardedFetch (address policy at connect, a fresh connection per call) vs undici.request with a
 *   keep-alive agent, and vs undici.request with a fresh agent per call;
 * - resolveInRoot (lstat per segment + realpath) vs path.resolve;
 * - runCommand (allowlist, process group, capped capture) vs a bare child_process.spawn.
 * Args: [http requests, default 2000] [path resolutions, default 20000] [commands, default 200]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { resolveInRoot } from '../src/targets/filesystem/safe-path.js';
import { guardedFetch } from '../src/targets/http/guarded-fetch.js';
import { runCommand } from '../src/targets/shell/run-command.js';

async function measure(label: string, n: number, fn: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < Math.min(50, n); i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  const total = performance.now() - start;
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(3);
  console.log(
    `${label.padEnd(44)} ${String(Math.round((n / total) * 1000)).padStart(8)} ops/s   p50 ${q(0.5)} ms   p99 ${q(0.99)} ms`,
  );
}

export async function run(args: string[]): Promise<void> {
  const nHttp = Number(args[0] ?? 2000);
  const nPath = Number(args[1] ?? 20000);
  const nCmd = Number(args[2] ?? 200);

  const server = http.createServer((_req, res) => res.end('{"ok":true}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const keepAlive = new Agent();
  console.log(`HTTP GET of a local server, ${nHttp} sequential requests`);
  await measure('baseline: undici.request, keep-alive agent', nHttp, async () => {
    const res = await request(url, { dispatcher: keepAlive });
    await res.body.arrayBuffer();
  });
  await measure('baseline: undici.request, new agent per call', nHttp, async () => {
    const agent = new Agent();
    const res = await request(url, { dispatcher: agent });
    await res.body.arrayBuffer();
    await agent.close();
  });
  await measure('guardedFetch (allow_private)', nHttp, () => guardedFetch(url, { allowPrivate: true }));
  await keepAlive.close();
  await new Promise<void>((r) => server.close(() => r()));

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-targets-'));
  fs.mkdirSync(path.join(root, 'a', 'b', 'c'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a', 'b', 'c', 'file.txt'), 'x');
  console.log(`\nPath resolution of a/b/c/file.txt, ${nPath} calls`);
  await measure('baseline: path.resolve', nPath, async () => path.resolve(root, 'a/b/c/file.txt'));
  await measure('baseline: fs.promises.realpath', nPath, () => fs.promises.realpath(path.join(root, 'a/b/c/file.txt')));
  await measure('resolveInRoot', nPath, () => resolveInRoot(root, 'a/b/c/file.txt'));
  await measure('resolveInRoot (new file, forWrite)', nPath, () =>
    resolveInRoot(root, 'a/b/c/new.txt', { forWrite: true }),
  );

  console.log(`\nRunning \`true\`, ${nCmd} times`);
  await measure('baseline: child_process.spawn', nCmd, () => {
    return new Promise<void>((resolve, reject) => {
      const c = spawn('true', [], { stdio: 'ignore' });
      c.on('error', reject);
      c.on('close', () => resolve());
    });
  });
  await measure('baseline: spawn, piped stdio, detached', nCmd, () => {
    return new Promise<void>((resolve, reject) => {
      const c = spawn('true', [], { stdio: 'pipe', detached: true });
      c.on('error', reject);
      c.stdout.resume();
      c.stderr.resume();
      c.on('close', () => resolve());
    });
  });
  await measure('runCommand', nCmd, () =>
    runCommand(['true'], { cwd: root, allowedPrograms: ['true'], timeoutMs: 5000, maxOutputBytes: 1024 }),
  );
  fs.rmSync(root, { recursive: true, force: true });
}
