/**
 * `npm run bench -- gateway [--rate 500] [--seconds 5] [--rounds 2] [--warmup 2] [--stream-rate 100] [--chunk-delay 5] [--nice N] [--profile] [--env K=V] [--node-flag F] [--budget] [--dump FILE] [--floor]`
 *
 * Gateway overhead: the same chat completion sent to the fake OpenAI-compatible upstream directly and through
 * Clarion's /v1/chat/completions (API key, provider, routing, budgets check, usage recording), paced at a fixed
 * rate, in one run. Direct and via-Clarion rounds alternate so drift of a shared machine hits both. Streamed calls
 * measure the delay of the first chunk. The upstream and Clarion run as child processes on core 1; the paced
 * client runs here on core 0.
 * `--floor` adds a bare Fastify that forwards the same calls to the upstream with undici and nothing else (no auth,
 * routing, budgets or usage): what any Node.js gateway costs on this machine, measured in the same run.
 * Budget (docs/benchmarks.md): added latency <= 1 ms at p50 and <= 5 ms at p99 at 500 req/s; first streamed
 * chunk <= 2 ms later.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'undici';
import {
  applyNice,
  argValue,
  cpuSeconds,
  ensureBuilt,
  experimentArgs,
  freePort,
  machineNote,
  mainJs,
  percentile,
  pinSelf,
  root,
  spawnNode,
  table,
  tempDir,
  waitFor200,
  type Spawned,
} from './support/processes.js';
import { printProfile } from './support/cpu-profile.js';

const ADMIN_PASSWORD = 'bench-admin-password';

/**
 * The --floor proxy: Fastify and an undici pool, forwarding the body to the upstream and its answer back (a stream
 * chunk by chunk). Upstream from UPSTREAM, port from PORT.
 */
const floorSource = `
import Fastify from 'fastify';
import { Pool } from 'undici';
const upstream = new Pool(process.env.UPSTREAM, { connections: 128 });
const app = Fastify();
app.get('/health', async () => ({ ok: true }));
app.post('/v1/chat/completions', async (req, reply) => {
  const res = await upstream.request({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-upstream' },
    body: JSON.stringify(req.body),
  });
  if (!req.body.stream) {
    reply.code(res.statusCode).header('content-type', 'application/json');
    return JSON.parse(await res.body.text());
  }
  reply.hijack();
  reply.raw.writeHead(res.statusCode, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for await (const chunk of res.body) reply.raw.write(chunk);
  reply.raw.end();
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
`;
const RATE_LIMIT = '10000000';

interface Sample {
  /** When it was sent, ms since the epoch (performance.timeOrigin + now): for `--dump`. */
  at: number;
  ms: number;
  ok: boolean;
  /** HTTP status, or 0 for a connection error. */
  status: number;
}

async function json(url: string, init: RequestInit & { body?: string }): Promise<Record<string, unknown>> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url} answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/**
 * Sends `rate` requests a second for `seconds`, each on schedule whether or not earlier ones finished (an open
 * loop, so a slow server cannot slow the load down), and times each from send to the last byte — or, with
 * `firstChunk`, to the first body byte.
 */
async function paced(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
  body: string,
  rate: number,
  seconds: number,
  firstChunk = false,
): Promise<Sample[]> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const samples: Sample[] = [];
  const origin = performance.timeOrigin;
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  let sent = 0;
  const one = async () => {
    const t0 = performance.now();
    try {
      const res = await pool.request({ method: 'POST', path, headers, body });
      let first: number | undefined;
      for await (const _chunk of res.body) first ??= performance.now() - t0;
      const all = performance.now() - t0;
      samples.push({
        at: origin + t0,
        ms: firstChunk ? (first ?? all) : all,
        ok: res.statusCode === 200,
        status: res.statusCode,
      });
    } catch {
      samples.push({ at: origin + t0, ms: performance.now() - t0, ok: false, status: 0 });
    }
  };
  while (sent < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
    while (sent < due) {
      inflight.push(one());
      sent++;
    }
    const next = start + sent * interval;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  await Promise.all(inflight);
  return samples;
}

function summarize(name: string, samples: Sample[]) {
  const ok = samples.filter((s) => s.ok).map((s) => s.ms);
  ok.sort((a, b) => a - b);
  const failed = new Map<number, number>();
  for (const s of samples) if (!s.ok) failed.set(s.status, (failed.get(s.status) ?? 0) + 1);
  const errors = [...failed].map(([status, n]) => `${n}×${status || 'conn'}`).join(' ') || '0';
  return { name, n: samples.length, errors, p50: percentile(ok, 50), p99: percentile(ok, 99) };
}

async function startClarion(
  fakeUrl: string,
  extra: ReturnType<typeof experimentArgs>,
  budget: boolean,
  profileDir?: string,
) {
  const port = await freePort();
  const dataDir = tempDir('gateway');
  const server = spawnNode(
    [...extra.nodeFlags, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), mainJs, 'serve'],
    {
      CLARION_DATA_DIR: dataDir,
      CLARION_HOST: '127.0.0.1',
      CLARION_PORT: String(port),
      CLARION_ADMIN_PASSWORD: ADMIN_PASSWORD,
      CLARION_RATE_LIMIT_IP_PER_MINUTE: RATE_LIMIT,
      CLARION_RATE_LIMIT_USER_PER_MINUTE: RATE_LIMIT,
      // Every request is the same: with the cache on, all but the first would never reach the upstream.
      CLARION_LLM_CACHE_ENTRIES: '0',
      CLARION_LLM_AUTODETECT: 'false',
      ...extra.env,
    },
    path.join(dataDir, 'server.log'),
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitFor200(`${base}/ready`, server);
    const login = await json(`${base}/api/v1/auth/login`, {
      method: 'POST',
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    const auth = { authorization: `Bearer ${login.access_token as string}` };
    const key = await json(`${base}/api/v1/api-keys`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'bench' }),
    });
    if (budget) {
      // A budget far above what the run spends: every call is checked and reserves its estimate while in flight.
      await json(`${base}/api/v1/budgets`, {
        method: 'PUT',
        headers: auth,
        body: JSON.stringify({
          scope: 'api_key',
          subject_id: (key.api_key as { id: string }).id,
          period: 'day',
          max_tokens: 1_000_000_000,
        }),
      });
    }
    await json(`${base}/api/v1/providers`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'fake', kind: 'openai', base_url: `${fakeUrl}/v1`, models: ['gpt-4o-mini'] }),
    });
    return { server, base, apiKey: key.key as string, log: path.join(dataDir, 'server.log') };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

export async function run(args: string[]): Promise<void> {
  const rate = Number(argValue(args, 'rate') ?? 500);
  const seconds = Number(argValue(args, 'seconds') ?? 5);
  const rounds = Number(argValue(args, 'rounds') ?? 2);
  const streamRate = Number(argValue(args, 'stream-rate') ?? 100);
  const chunkDelay = Number(argValue(args, 'chunk-delay') ?? 5);
  // Seconds of paced calls through Clarion before measuring (its JIT takes a few thousand calls to settle).
  const warmup = Number(argValue(args, 'warmup') ?? 2);
  ensureBuilt();
  const pinning = pinSelf() + applyNice(args);
  const before = machineNote();
  const procs: Spawned[] = [];
  // `--profile`: Clarion runs under --cpu-prof and the benchmark prints where its time went.
  const profileDir = args.includes('--profile') ? tempDir('gateway-profile') : undefined;
  const extra = experimentArgs(args);
  // `--budget`: the bench key gets a (never reached) token budget, so calls take the budget path.
  const budget = args.includes('--budget');
  const pools: Pool[] = [];
  try {
    const fakePort = await freePort();
    const fake = spawnNode(
      ['--import', 'tsx', path.join(root, 'bench/support/fake-llm-server.ts')],
      { PORT: String(fakePort), CHUNK_DELAY_MS: String(chunkDelay) },
      path.join(tempDir('fake-llm'), 'out.log'),
    );
    procs.push(fake);
    const fakeUrl = `http://127.0.0.1:${fakePort}`;
    await waitFor200(`${fakeUrl}/v1/models`, fake);
    const clarion = await startClarion(fakeUrl, extra, budget, profileDir);
    if (extra.note) console.log(`${extra.note}; Clarion's log: ${clarion.log}`);
    procs.push(clarion.server);

    // --floor: the bare proxy, on the same upstream.
    let floor: { proc: Spawned; pool: Pool } | undefined;
    if (args.includes('--floor')) {
      const floorPort = await freePort();
      const proc = spawnNode(
        ['--input-type=module', '-e', floorSource],
        { PORT: String(floorPort), UPSTREAM: fakeUrl },
        path.join(tempDir('gateway-floor'), 'out.log'),
      );
      procs.push(proc);
      await waitFor200(`http://127.0.0.1:${floorPort}/health`, proc);
      floor = { proc, pool: new Pool(`http://127.0.0.1:${floorPort}`, { connections: 128 }) };
      pools.push(floor.pool);
    }

    const direct = new Pool(fakeUrl, { connections: 128 });
    const via = new Pool(clarion.base, { connections: 128 });
    pools.push(direct, via);
    const messages = [
      { role: 'system', content: 'You are a terse assistant.' },
      { role: 'user', content: 'Summarise the benefits of keeping a gateway close to its callers in one line.' },
    ];
    const plain = (model: string) => JSON.stringify({ model, messages, max_tokens: 64 });
    const streamed = (model: string) => JSON.stringify({ model, messages, max_tokens: 64, stream: true });
    const hDirect = { 'content-type': 'application/json', authorization: 'Bearer sk-upstream' };
    const hVia = { 'content-type': 'application/json', authorization: `Bearer ${clarion.apiKey}` };

    // Warm-up: connections, JIT, SQLite pages. Plain and streamed calls run at the same time, as a gateway serves
    // them: warmed on one kind after the other, V8 optimized the code they share for the shapes of the last kind
    // alone, then deoptimized it and compiled it again (~50 TurboFan jobs, each taking the server's core for a
    // few milliseconds) in the first measured round (--trace-opt --trace-deopt).
    const warm = (pool: Pool, headers: Record<string, string>, model: string, seconds: number) =>
      Promise.all([
        paced(pool, '/v1/chat/completions', headers, plain(model), rate, seconds),
        paced(pool, '/v1/chat/completions', headers, streamed(model), streamRate, seconds, true),
      ]);
    await paced(direct, '/v1/chat/completions', hDirect, plain('gpt-4o-mini'), rate, 1);
    if (floor) await warm(floor.pool, hDirect, 'gpt-4o-mini', Math.min(warmup, 3));
    await warm(via, hVia, 'fake/gpt-4o-mini', warmup);

    // Each case: its calls (one round is `run`), the process that serves them (Clarion, or the floor in its own
    // cases), the samples of all its rounds, and the CPU time the server and the upstream used during them.
    const kase = (name: string, dumpName: string, serverPid: number, run: () => Promise<Sample[]>) => ({
      name,
      dumpName,
      serverPid,
      run,
      samples: [] as Sample[],
      serverCpu: 0,
      upstreamCpu: 0,
    });
    const clarionPid = clarion.server.pid;
    const cases = [
      kase('chat, upstream directly (baseline)', 'direct', clarionPid, () =>
        paced(direct, '/v1/chat/completions', hDirect, plain('gpt-4o-mini'), rate, seconds),
      ),
      kase('chat, through Clarion', 'via', clarionPid, () =>
        paced(via, '/v1/chat/completions', hVia, plain('fake/gpt-4o-mini'), rate, seconds),
      ),
      ...(floor
        ? [
            kase('chat, bare Fastify + undici proxy (floor)', 'floor', floor.proc.pid, () =>
              paced(floor.pool, '/v1/chat/completions', hDirect, plain('gpt-4o-mini'), rate, seconds),
            ),
          ]
        : []),
      kase('stream first chunk, upstream directly (baseline)', 'stream-direct', clarionPid, () =>
        paced(direct, '/v1/chat/completions', hDirect, streamed('gpt-4o-mini'), streamRate, seconds, true),
      ),
      kase('stream first chunk, through Clarion', 'stream-via', clarionPid, () =>
        paced(via, '/v1/chat/completions', hVia, streamed('fake/gpt-4o-mini'), streamRate, seconds, true),
      ),
      ...(floor
        ? [
            kase('stream first chunk, bare proxy (floor)', 'stream-floor', floor.proc.pid, () =>
              paced(floor.pool, '/v1/chat/completions', hDirect, streamed('gpt-4o-mini'), streamRate, seconds, true),
            ),
          ]
        : []),
    ];
    for (let r = 0; r < rounds; r++) {
      for (const c of cases) {
        const c0 = cpuSeconds(c.serverPid);
        const f0 = cpuSeconds(fake.pid);
        c.samples.push(...(await c.run()));
        c.serverCpu += cpuSeconds(c.serverPid) - c0;
        c.upstreamCpu += cpuSeconds(fake.pid) - f0;
      }
    }
    // `--dump FILE`: every measured call as a JSON line (case, send time in ms since the epoch, ms, status), to
    // line the slow ones up against what the server logged at that moment.
    const dump = argValue(args, 'dump');
    if (dump) {
      const lines = cases.flatMap((c) =>
        c.samples.map((x) =>
          JSON.stringify({ case: c.dumpName, at: Math.round(x.at * 1000) / 1000, ms: x.ms, status: x.status }),
        ),
      );
      fs.writeFileSync(dump, `${lines.join('\n')}\n`);
      console.log(`samples written to ${dump}`);
    }
    const rows = cases.map((c) => ({
      ...summarize(c.name, c.samples),
      serverUs: (c.serverCpu / c.samples.length) * 1e6,
      upstreamUs: (c.upstreamCpu / c.samples.length) * 1e6,
    }));
    console.log(`\nmachine before: ${before}\nmachine after:  ${machineNote()}`);
    console.log(
      `\ngateway: ${rate} req/s (streams ${streamRate} req/s), ${warmup} s warm-up, ${rounds} alternating rounds of ${seconds} s; ` +
        `upstream chunk delay ${chunkDelay} ms; ${pinning}`,
    );
    console.log(
      `Clarion: node dist/main.js serve, SQLite, log level info (to a file), cache off, usage recorded per call${budget ? ', the key under a token budget' : ''}\n`,
    );
    const f = (x: number) => x.toFixed(2);
    console.log(
      table(
        ['case', 'requests', 'errors', 'p50 ms', 'p99 ms', 'server µs CPU/call', 'upstream µs CPU/call'],
        rows.map((r) => [r.name, r.n, r.errors, f(r.p50), f(r.p99), r.serverUs.toFixed(0), r.upstreamUs.toFixed(0)]),
      ),
    );
    const row = (dumpName: string) => rows[cases.findIndex((c) => c.dumpName === dumpName)]!;
    const [bd, bv, sd, sv] = [row('direct'), row('via'), row('stream-direct'), row('stream-via')];
    if (floor) {
      const [bf, sf] = [row('floor'), row('stream-floor')];
      console.log(
        `\nadded by the bare proxy (floor): p50 ${f(bf.p50 - bd.p50)} ms, p99 ${f(bf.p99 - bd.p99)} ms; ` +
          `first streamed chunk p50 ${f(sf.p50 - sd.p50)} ms, p99 ${f(sf.p99 - sd.p99)} ms`,
      );
    }
    console.log(
      `\nadded by Clarion: p50 ${f(bv.p50 - bd.p50)} ms, p99 ${f(bv.p99 - bd.p99)} ms; ` +
        `first streamed chunk p50 ${f(sv.p50 - sd.p50)} ms, p99 ${f(sv.p99 - sd.p99)} ms`,
    );
    console.log('budget: <= 1 ms added at p50, <= 5 ms at p99; first chunk <= 2 ms later');
  } finally {
    for (const p of pools) await p.close().catch(() => {});
    for (const p of procs.reverse()) await p.stop();
  }
  if (profileDir) {
    for (const f of fs.readdirSync(profileDir)) printProfile('Clarion', path.join(profileDir, f));
  }
}
