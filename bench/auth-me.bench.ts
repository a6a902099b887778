/**
 * `npm run bench -- auth-me [--duration 10] [--warmup 3] [--connections 100] [--profile] [--env K=V] [--node-flag F] [--nice N]`
 *
 * GET /api/v1/auth/me with an API key and with an access JWT against Clarion from dist/, side by side with a
 * bare Fastify hello-world measured in the same run. Each server runs in its own child process on core 1;
 * autocannon runs here on core 0. `--profile` runs Clarion under `node --cpu-prof` and prints where its time goes.
 * Budget (docs/benchmarks.md): >= 50% of hello-world req/s, p99 < 10 ms.
 */
import fs from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import {
  applyNice,
  argValue,
  experimentArgs,
  ensureBuilt,
  freePort,
  machineNote,
  helloWorldSource,
  mainJs,
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
}

async function load(
  name: string,
  url: string,
  headers: Record<string, string>,
  opts: { connections: number; duration: number; warmup: number },
): Promise<Measured> {
  if (opts.warmup > 0) await autocannon({ url, headers, connections: opts.connections, duration: opts.warmup });
  const r = await autocannon({ url, headers, connections: opts.connections, duration: opts.duration });
  return {
    name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
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
async function startClarion(profile: boolean, extra: ReturnType<typeof experimentArgs>) {
  const port = await freePort();
  const dataDir = tempDir('auth-me');
  const profileDir = path.join(dataDir, 'profile');
  const server = spawnNode(
    [...extra.nodeFlags, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), mainJs, 'serve'],
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
  };
  ensureBuilt();
  const pinning = pinSelf() + applyNice(args);
  const before = machineNote();
  const profile = args.includes('--profile');
  if (!profile) removeTempDirsOnExit();
  const extra = experimentArgs(args);
  const profiles: [string, string][] = [];
  const results: Measured[] = [];
  let server: Spawned | undefined;

  try {
    // Baseline: bare Fastify hello-world, no logger, no plugins.
    const helloPort = await freePort();
    const helloDir = tempDir('hello');
    server = spawnNode(
      ['--input-type=module', '-e', helloWorldSource],
      { PORT: String(helloPort) },
      path.join(helloDir, 'out.log'),
    );
    const helloUrl = `http://127.0.0.1:${helloPort}/`;
    await waitFor200(helloUrl, server);
    results.push(await load('fastify hello-world (baseline)', helloUrl, {}, opts));
    await server.stop();
    server = undefined;

    // One fresh Clarion per case, so each case (and each --profile) sees only its own traffic. /health goes
    // through the same plugins and hooks (security headers, CORS, auth hook, request log, metrics) with no
    // credentials and no database: it separates the cost of the HTTP stack from that of authentication.
    for (const via of ['no credentials', 'API key', 'JWT'] as const) {
      const clarion = await startClarion(profile, extra);
      server = clarion.server;
      results.push(
        via === 'no credentials'
          ? await load('GET /health (Clarion HTTP stack only)', clarion.healthUrl, {}, opts)
          : await load(
              `GET /api/v1/auth/me, ${via}`,
              clarion.meUrl,
              { authorization: `Bearer ${via === 'API key' ? clarion.apiKey : clarion.jwt}` },
              opts,
            ),
      );
      await server.stop();
      server = undefined;
      if (profile) profiles.push([via, clarion.profileDir]);
    }
  } finally {
    await server?.stop();
  }

  console.log(`\nmachine before: ${before}\nmachine after:  ${machineNote()}`);
  const baseline = results[0]!.rps;
  console.log(
    `\nauth-me: ${opts.connections} connections, ${opts.warmup} s warm-up + ${opts.duration} s per case; ${pinning}`,
  );
  console.log(
    `Clarion: node dist/main.js serve, SQLite in a temp dir, log level info (to a file), ` +
      `CLARION_RATE_LIMIT_IP_PER_MINUTE=CLARION_RATE_LIMIT_USER_PER_MINUTE=${RATE_LIMIT}`,
  );
  console.log(`${extra.note}\n`);
  console.log(
    table(
      ['case', 'req/s', 'p50 ms', 'p99 ms', '% of hello-world', 'non-2xx', 'errors'],
      results.map((r) => [
        r.name,
        Math.round(r.rps),
        r.p50,
        r.p99,
        `${Math.round((r.rps / baseline) * 100)}%`,
        r.non2xx,
        r.errors,
      ]),
    ),
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
