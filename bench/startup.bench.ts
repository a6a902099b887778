/**
 * `npm run bench -- startup [--runs 5] [--idle 2000] [--env K=V] [--node-flag F] [--nice N] [--compare PATH]`
 *
 * Time from spawning `node dist/main.js serve` to the first 200 from /ready, and resident memory after an idle
 * pause, beside a bare Node process serving a Fastify hello-world measured the same way in the same run.
 * First start (fresh data dir: migrations, admin creation, key files) and warm start (same dir again) are
 * reported separately. `--compare PATH` adds the first and warm starts of another build's main.js (kept as
 * auth-me.bench.ts describes), alternating with this build's in each run. Budget (docs/benchmarks.md): start to
 * /ready < 1 s; idle RSS < 100 MB.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  applyNice,
  argValue,
  experimentArgs,
  ensureBuilt,
  freePort,
  machineNote,
  helloWorldSource,
  mainJs,
  median,
  pinSelf,
  removeTempDirsOnExit,
  rssMb,
  spawnNode,
  table,
  tempDir,
  waitFor200,
  type Spawned,
} from './support/processes.js';

interface Sample {
  ms: number;
  rss: number;
}

/** Spawns, times the first 200 from `url`, waits `idleMs`, reads VmRSS, stops. */
async function sample(start: (port: number) => Spawned, urlOf: (port: number) => string, idleMs: number) {
  const port = await freePort();
  const t0 = performance.now();
  const proc = start(port);
  try {
    await waitFor200(urlOf(port), proc, 30_000, 2);
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, idleMs));
    return { ms, rss: rssMb(proc.pid) };
  } finally {
    await proc.stop();
  }
}

export async function run(args: string[]): Promise<void> {
  const runs = Number(argValue(args, 'runs') ?? 5);
  const idleMs = Number(argValue(args, 'idle') ?? 2000);
  const extra = experimentArgs(args);
  const compare = argValue(args, 'compare');
  if (compare !== undefined && !fs.existsSync(compare)) throw new Error(`--compare: no file ${compare}`);
  ensureBuilt();
  const pinning = pinSelf() + applyNice(args);
  removeTempDirsOnExit();
  const before = machineNote();

  const hello: Sample[] = [];
  const first: Sample[] = [];
  const warm: Sample[] = [];
  const otherFirst: Sample[] = [];
  const otherWarm: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    const helloDir = tempDir('hello');
    hello.push(
      await sample(
        (port) =>
          spawnNode(
            ['--input-type=module', '-e', helloWorldSource],
            { PORT: String(port) },
            path.join(helloDir, 'out.log'),
          ),
        (port) => `http://127.0.0.1:${port}/`,
        idleMs,
      ),
    );

    const ready = (port: number) => `http://127.0.0.1:${port}/ready`;
    for (const [main, firsts, warms] of [
      [mainJs, first, warm],
      ...(compare ? ([[path.resolve(compare), otherFirst, otherWarm]] as const) : []),
    ] as const) {
      const dataDir = tempDir('startup');
      const clarion = (port: number) =>
        spawnNode(
          [...extra.nodeFlags, main, 'serve'],
          {
            CLARION_DATA_DIR: dataDir,
            CLARION_HOST: '127.0.0.1',
            CLARION_PORT: String(port),
            CLARION_ADMIN_PASSWORD: 'bench-admin-password',
            ...extra.env,
          },
          path.join(dataDir, `server-${Date.now()}.log`),
        );
      firsts.push(await sample(clarion, ready, idleMs));
      warms.push(await sample(clarion, ready, idleMs));
    }
  }

  console.log(`\nmachine before: ${before}\nmachine after:  ${machineNote()}`);
  const row = (name: string, s: Sample[]) => [
    name,
    Math.round(median(s.map((x) => x.ms))),
    Math.round(Math.min(...s.map((x) => x.ms))),
    Math.round(Math.max(...s.map((x) => x.ms))),
    median(s.map((x) => x.rss)).toFixed(1),
  ];
  console.log(`\nstartup: ${runs} runs each, RSS read ${idleMs} ms after the first 200; ${pinning}`);
  console.log('Clarion: node dist/main.js serve on SQLite, log level info (to a file)');
  console.log(`${extra.note}\n`);
  console.log(
    table(
      ['case', 'median ms', 'min ms', 'max ms', 'idle RSS MB (median)'],
      [
        row('node + fastify hello-world, to first 200 (baseline)', hello),
        row('clarion first start (fresh data dir), to /ready 200', first),
        row('clarion warm start (existing data dir), to /ready 200', warm),
        ...(compare ? [row(`first start, ${compare}`, otherFirst), row(`warm start, ${compare}`, otherWarm)] : []),
      ],
    ),
  );
  console.log('\nbudget: start to /ready < 1000 ms; idle RSS < 100 MB');
  for (const [name, s] of [
    ['first start', first],
    ['warm start', warm],
  ] as const) {
    const ms = median(s.map((x) => x.ms));
    const rss = median(s.map((x) => x.rss));
    console.log(
      `  ${name}: ${ms < 1000 ? 'met' : 'MISSED'} (${Math.round(ms)} ms); RSS ${rss < 100 ? 'met' : 'MISSED'} (${rss.toFixed(1)} MB)`,
    );
  }
}
