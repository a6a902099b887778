/**
 * `npm run bench -- auth-me [--duration 10] [--warmup 3] [--connections 100] [--load autocannon|wrk|h2load] [--rounds N] [--settle 5] [--profile] [--env K=V] [--node-flag F] [--nice N] [--compare PATH] [--floor]`
 *
 * GET /api/v1/auth/me with an API key and with an access JWT against Clarion from dist/, side by side with a
 * bare Fastify hello-world measured in the same run. Each server runs in its own child process on core 1;
 * autocannon runs here on core 0. `--profile` runs Clarion under `node --cpu-prof` and prints where its time goes.
 * `--compare PATH` adds the API-key case served by another build's main.js, so a change is measured against what
 * it replaces in the same run, alternating. Keep the earlier build in the checkout (ignored by git) before
 * rebuilding: `mkdir -p .builds/old && cp -r dist package.json .builds/old/ && ln -s ../../node_modules
 * .builds/old/node_modules`, then `--compare .builds/old/dist/main.js`.
 * Budget (docs/benchmarks.md): >= 50% of hello-world req/s, p99 < 10 ms.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import {
  applyNice,
  argValue,
  cpuSeconds,
  experimentArgs,
  ensureBuilt,
  freePort,
  machineNote,
  helloWorldSource,
  mainJs,
  percentile,
  pinSelf,
  removeTempDirsOnExit,
  spawnNode,
  table,
  tempDir,
  waitFor200,
  type Spawned,
} from './support/processes.js';
import { printProfile } from './support/cpu-profile.js';

const ADMIN_PASSWORD = 'bench-admin-password';

/** The --floor server: Fastify with no plugins or hooks, sending a fixed answer with the given headers. */
const floorSource = `
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
const headers = JSON.parse(process.env.FLOOR_HEADERS);
const body = process.env.FLOOR_BODY;
const app = Fastify();
app.get('/', (req, reply) => {
  reply.header('x-request-id', randomUUID());
  reply.headers(headers);
  reply.send(body);
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
`;
// The per-user and per-address limits are raised to their maximum so the benchmark measures the request path,
// not 429s. The limiter itself still runs on every request.
const RATE_LIMIT = '10000000';

interface Measured {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** Share of one core the server used during the measured seconds (1 = the load saturated it). */
  serverCpu: number;
}

interface LoadOpts {
  connections: number;
  duration: number;
  warmup: number;
  /** autocannon (in this process, on core 0), or wrk or h2load (C load generators, on core 0). */
  generator: 'autocannon' | 'wrk' | 'h2load';
}

/** One wrk run: req/s, latency percentiles in ms, non-2xx answers and socket errors. */
function wrk(url: string, headers: Record<string, string>, connections: number, seconds: number) {
  const args = ['-c', '0', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const out = execFileSync('taskset', [...args, url], { encoding: 'utf8' });
  const ms = (label: string) => {
    const m = out.match(new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm'));
    if (!m) throw new Error(`wrk printed no ${label} latency:\n${out}`);
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  const errors = [...(out.match(/Socket errors: (.*)/)?.[1] ?? '').matchAll(/\d+/g)].reduce(
    (a, m) => a + Number(m[0]),
    0,
  );
  return {
    rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1]),
    p50: ms('50%'),
    p99: ms('99%'),
    non2xx: Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0),
    errors,
  };
}

/**
 * One h2load run over HTTP/1.1 (nghttp2's load generator, Debian package `nghttp2-client`): req/s from its summary,
 * latency percentiles computed here from its per-request log (microseconds from a request's start to the end of
 * its response), non-2xx answers and failed requests.
 */
function h2load(url: string, headers: Record<string, string>, connections: number, seconds: number) {
  const log = path.join(tempDir('h2load'), 'requests.tsv');
  const args = ['-c', '0', 'h2load', '--h1', '-t1', `-c${connections}`, `-D${seconds}`, `--log-file=${log}`];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const out = execFileSync('taskset', [...args, url], { encoding: 'utf8' });
  const statuses = out.match(/status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/);
  const requests = out.match(/requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored/);
  if (!statuses || !requests) throw new Error(`h2load printed no summary:\n${out}`);
  const ms: number[] = [];
  for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
    const cols = line.split('\t');
    if (cols.length >= 3 && cols[1] !== '-1') ms.push(Number(cols[2]) / 1000);
  }
  fs.rmSync(log);
  if (ms.length === 0) throw new Error(`h2load logged no request:\n${out}`);
  ms.sort((a, b) => a - b);
  const at = (p: number) => Math.round(percentile(ms, p) * 100) / 100;
  return {
    rps: Number(out.match(/finished in [\d.]+m?s, ([\d.]+) req\/s/)?.[1]),
    p50: at(50),
    p99: at(99),
    non2xx: Number(statuses[2]) + Number(statuses[3]) + Number(statuses[4]),
    errors: Number(requests[1]) + Number(requests[2]),
  };
}

async function load(
  name: string,
  url: string,
  headers: Record<string, string>,
  opts: LoadOpts,
  serverPid: number,
): Promise<Measured> {
  if (opts.generator !== 'autocannon') {
    const generator = opts.generator === 'wrk' ? wrk : h2load;
    if (opts.warmup > 0) generator(url, headers, opts.connections, opts.warmup);
    const cpu0 = cpuSeconds(serverPid);
    const r = generator(url, headers, opts.connections, opts.duration);
    return { name, ...r, serverCpu: (cpuSeconds(serverPid) - cpu0) / opts.duration };
  }
  if (opts.warmup > 0) await autocannon({ url, headers, connections: opts.connections, duration: opts.warmup });
  const cpu0 = cpuSeconds(serverPid);
  const r = await autocannon({ url, headers, connections: opts.connections, duration: opts.duration });
  return {
    name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    serverCpu: (cpuSeconds(serverPid) - cpu0) / opts.duration,
  };
}

async function json(url: string, init: RequestInit & { body?: string }): Promise<Record<string, unknown>> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url} answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/**
 * Clarion from dist/ on a fresh SQLite data dir at the default log level (JSON request logs to a file); signs in
 * and creates an API key over HTTP, and checks both credentials answer /auth/me as the admin.
 */
async function startClarion(profile: boolean, extra: ReturnType<typeof experimentArgs>, main = mainJs) {
  const port = await freePort();
  const dataDir = tempDir('auth-me');
  const profileDir = path.join(dataDir, 'profile');
  const server = spawnNode(
    [...extra.nodeFlags, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), main, 'serve'],
    {
      CLARION_DATA_DIR: dataDir,
      CLARION_HOST: '127.0.0.1',
      CLARION_PORT: String(port),
      CLARION_ADMIN_PASSWORD: ADMIN_PASSWORD,
      CLARION_RATE_LIMIT_IP_PER_MINUTE: RATE_LIMIT,
      CLARION_RATE_LIMIT_USER_PER_MINUTE: RATE_LIMIT,
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
    const jwt = login.access_token as string;
    const created = await json(`${base}/api/v1/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}` },
      body: JSON.stringify({ name: 'bench' }),
    });
    const apiKey = created.key as string;
    const meUrl = `${base}/api/v1/auth/me`;
    for (const [label, token] of [
      ['API key', apiKey],
      ['JWT', jwt],
    ] as const) {
      const me = await json(meUrl, { headers: { authorization: `Bearer ${token}` } });
      if ((me.user as { username?: string } | undefined)?.username !== 'admin') {
        throw new Error(`GET /auth/me with the ${label} did not return the admin: ${JSON.stringify(me)}`);
      }
    }
    return { server, meUrl, healthUrl: `${base}/health`, jwt, apiKey, profileDir };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

export async function run(args: string[]): Promise<void> {
  const opts = {
    duration: Number(argValue(args, 'duration') ?? 10),
    warmup: Number(argValue(args, 'warmup') ?? 3),
    connections: Number(argValue(args, 'connections') ?? 100),
    generator: (argValue(args, 'load') ?? 'autocannon') as LoadOpts['generator'],
  };
  if (!['autocannon', 'wrk', 'h2load'].includes(opts.generator)) throw new Error('--load is autocannon, wrk or h2load');
  ensureBuilt();
  const pinning = pinSelf() + applyNice(args);
  const before = machineNote();
  const profile = args.includes('--profile');
  if (!profile) removeTempDirsOnExit();
  const extra = experimentArgs(args);
  // Rounds alternate the cases on servers kept running, so drift of a shared machine hits every case alike; the
  // table gives each case's median round. A --profile run is one round (a profile covers its process's last
  // seconds).
  const rounds = profile ? 1 : Number(argValue(args, 'rounds') ?? 1);
  const settle = Number(argValue(args, 'settle') ?? 5);
  const profiles: [string, string][] = [];
  const servers: Spawned[] = [];
  const cases: { name: string; url: string; headers: Record<string, string>; pid: number }[] = [];
  const rows: Measured[][] = [];

  try {
    // Baseline: bare Fastify hello-world, no logger, no plugins.
    const helloPort = await freePort();
    const helloDir = tempDir('hello');
    const hello = spawnNode(
      ['--input-type=module', '-e', helloWorldSource],
      { PORT: String(helloPort) },
      path.join(helloDir, 'out.log'),
    );
    servers.push(hello);
    const helloUrl = `http://127.0.0.1:${helloPort}/`;
    await waitFor200(helloUrl, hello);
    cases.push({ name: 'fastify hello-world (baseline)', url: helloUrl, headers: {}, pid: hello.pid });

    // One Clarion per case, so each case (and each --profile) sees only its own traffic. /health goes through
    // the same plugins and hooks (security headers, CORS, auth hook, request log, metrics) with no credentials
    // and no database: it separates the cost of the HTTP stack from that of authentication.
    const compare = argValue(args, 'compare');
    if (compare !== undefined && !fs.existsSync(compare)) throw new Error(`--compare: no file ${compare}`);
    for (const via of ['no credentials', 'API key', 'JWT', ...(compare ? (['compare'] as const) : [])] as const) {
      const clarion = await startClarion(profile, extra, via === 'compare' ? path.resolve(compare!) : mainJs);
      servers.push(clarion.server);
      if (profile) profiles.push([via, clarion.profileDir]);
      cases.push(
        via === 'no credentials'
          ? {
              name: 'GET /health (Clarion HTTP stack only)',
              url: clarion.healthUrl,
              headers: {},
              pid: clarion.server.pid,
            }
          : {
              name: via === 'compare' ? `GET /api/v1/auth/me, API key, ${compare}` : `GET /api/v1/auth/me, ${via}`,
              url: clarion.meUrl,
              headers: { authorization: `Bearer ${via === 'JWT' ? clarion.jwt : clarion.apiKey}` },
              pid: clarion.server.pid,
            },
      );
    }
    // --floor: a bare Fastify answering with exactly what Clarion's /auth/me answers (status, Clarion's headers with a
    // fresh request id each time, the same body bytes) and nothing else: what the response alone costs, so the gap
    // to the hello-world splits into the answer the API must give and the work Clarion does to make it.
    if (args.includes('--floor')) {
      const keyCase = cases.find((c) => c.name === 'GET /api/v1/auth/me, API key')!;
      const sample = await fetch(keyCase.url, { headers: keyCase.headers });
      const body = await sample.text();
      const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'x-request-id']);
      const headers: Record<string, string> = {};
      sample.headers.forEach((v, k) => {
        if (!skip.has(k)) headers[k] = v;
      });
      const floorPort = await freePort();
      const floor = spawnNode(
        ['--input-type=module', '-e', floorSource],
        { PORT: String(floorPort), FLOOR_HEADERS: JSON.stringify(headers), FLOOR_BODY: body },
        path.join(tempDir('floor'), 'out.log'),
      );
      servers.push(floor);
      const floorUrl = `http://127.0.0.1:${floorPort}/`;
      await waitFor200(floorUrl, floor);
      cases.push({ name: "fastify with /auth/me's answer (floor)", url: floorUrl, headers: {}, pid: floor.pid });
    }
    // Each server first runs under load for --settle seconds, unmeasured: V8 optimises a fresh process's code on the
    // server's one core for its first ~2-5 s of load, so without it the first round measures the JIT, not the server.
    if (settle > 0) {
      for (const c of cases) await load(c.name, c.url, c.headers, { ...opts, warmup: 0, duration: settle }, c.pid);
    }
    for (let round = 0; round < rounds; round++) {
      for (const [i, c] of cases.entries()) {
        // With --profile, each server is stopped right after its case, so its profile ends with its own load.
        const m = await load(c.name, c.url, c.headers, opts, c.pid);
        (rows[i] ??= []).push(m);
        if (profile && i > 0) await servers[i]!.stop();
      }
    }
  } finally {
    for (const srv of servers) await srv.stop();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const results: Measured[] = rows.map((rs) => ({
    name: rs[0]!.name,
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    serverCpu: median(rs.map((r) => r.serverCpu)),
  }));
  const cpuPerReq = rows.map((rs) => rs.map((r) => (r.serverCpu * 1e6) / r.rps));

  console.log(`\nmachine before: ${before}\nmachine after:  ${machineNote()}`);
  const baseline = results[0]!.rps;
  console.log(
    `\nauth-me: ${opts.connections} connections, ${opts.warmup} s warm-up + ${opts.duration} s per case, ` +
      `${rounds} round(s) after ${settle} s of unmeasured load on each server, medians shown; ${pinning}`,
  );
  console.log(
    `Clarion: node dist/main.js serve, SQLite in a temp dir, log level info (to a file), ` +
      `CLARION_RATE_LIMIT_IP_PER_MINUTE=CLARION_RATE_LIMIT_USER_PER_MINUTE=${RATE_LIMIT}`,
  );
  console.log(`${extra.note}\n`);
  console.log(
    table(
      [
        'case',
        'req/s',
        'p50 ms',
        'p99 ms',
        '% of hello-world',
        'non-2xx',
        'errors',
        'server CPU',
        'µs CPU/req',
        'p99 ms by round',
      ],
      results.map((r, i) => [
        r.name,
        Math.round(r.rps),
        r.p50,
        r.p99,
        `${Math.round((r.rps / baseline) * 100)}%`,
        r.non2xx,
        r.errors,
        `${Math.round(r.serverCpu * 100)}%`,
        `${median(cpuPerReq[i]!).toFixed(1)} (best ${Math.min(...cpuPerReq[i]!).toFixed(1)})`,
        rows[i]!.map((r) => r.p99).join(' '),
      ]),
    ),
  );
  // A server below ~95% of its core was waiting for the load generator: its req/s then measures the client.
  console.log(
    `load generator: ${opts.generator}; server CPU is the share of its core the server used while measured ` +
      `(below ~95%, the load generator, not the server, set the req/s)`,
  );
  console.log('\nbudget: >= 50% of hello-world req/s and p99 < 10 ms');
  for (const r of results.filter((x) => x.name.includes('/auth/me'))) {
    const share = r.rps / baseline;
    const verdict = share >= 0.5 && r.p99 < 10 && r.non2xx === 0 && r.errors === 0 ? 'met' : 'MISSED';
    console.log(`  ${r.name}: ${verdict} (${Math.round(share * 100)}%, p99 ${r.p99} ms)`);
  }
  for (const [via, dir] of profiles) {
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    // The measured seconds only: the server is stopped right after them.
    if (file) printProfile(`Clarion, case: ${via}`, path.join(dir, file), opts.duration * 1000);
    else console.log(`no CPU profile was written for the ${via} case in ${dir}`);
  }
}
