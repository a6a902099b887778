/**
 * `npm run bench -- memory [--docs 100000] [--dims 384] [--queries 300]`
 *
 * Vector memory on SQLite, in-process: ingest rate of documents with precomputed embeddings through the
 * memory service (SQL inserts, FTS index, vector index kept in sync), then exact top-10 query latency
 * (p50/p99) through the service, through the vector index alone, and of a plain single-threaded
 * Float32Array scan over the same unit vectors, measured in the same run.
 * Budget (docs/benchmarks.md): exact top-10 within 1.5x the plain scan.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/config.js';
import { createDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrator.js';
import { nowIso } from '../src/db/time.js';
import { createMemoryService } from '../src/memory/memory.module.js';
import { percentile } from './support/processes.js';

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

/** Deterministic pseudo-random unit vectors (xorshift), so runs compare. */
function vectors(n: number, dims: number, seed: number): Float32Array {
  const out = new Float32Array(n * dims);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < dims; j++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const v = (x >>> 0) / 4294967296 - 0.5;
      out[i * dims + j] = v;
      sum += v * v;
    }
    const inv = 1 / Math.sqrt(sum);
    for (let j = 0; j < dims; j++) out[i * dims + j]! *= inv;
  }
  return out;
}

/** The baseline: one loop of dot products over a contiguous array with a sorted top-k buffer. */
function plainScan(all: Float32Array, n: number, dims: number, q: Float32Array, k: number): number[] {
  const best: { i: number; s: number }[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    const off = i * dims;
    for (let j = 0; j < dims; j++) s += all[off + j]! * q[j]!;
    if (best.length < k || s > best[best.length - 1]!.s) {
      best.push({ i, s });
      best.sort((a, b) => b.s - a.s);
      if (best.length > k) best.pop();
    }
  }
  return best.map((b) => b.i);
}

const pct = (xs: number[], p: number) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    p,
  );
const ms = (n: number) => `${n.toFixed(2)} ms`;

export async function run(args: string[]): Promise<void> {
  const n = arg(args, 'docs', 100_000);
  const dims = arg(args, 'dims', 384);
  const queries = arg(args, 'queries', 300);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-bench-memory-'));
  const config = loadConfig({ env: {}, cwd: dir, overrides: { data_dir: dir, memory_max_documents: 1000 } });
  const database = createDatabase({ dataDir: dir });
  try {
    await migrate(database);
    const userId = randomUUID();
    const now = nowIso();
    await database.db
      .insertInto('users')
      .values({
        id: userId,
        username: 'bench',
        email: 'bench@example.test',
        password_hash: 'x',
        role: 'admin',
        disabled: 0,
        must_change_password: 0,
        created_at: now,
        updated_at: now,
      })
      .execute();
    const memory = createMemoryService(config, database, () => undefined);
    await memory.createCollection(userId, { name: 'bench', embedding: { embedder: 'none' } });

    const data = vectors(n, dims, 42);
    console.log(`memory bench: ${n} documents x ${dims} dims, SQLite at ${dir}`);
    const t0 = performance.now();
    for (let i = 0; i < n; i += 1000) {
      const docs = [];
      for (let j = i; j < Math.min(n, i + 1000); j++) {
        docs.push({
          id: `d${j}`,
          content: `document ${j} about topic ${j % 97}`,
          metadata: { topic: j % 97, even: j % 2 === 0 },
          embedding: Array.from(data.subarray(j * dims, (j + 1) * dims)),
        });
      }
      await memory.addDocuments({ userId }, 'bench', docs, { onExisting: 'error', chunk: false });
    }
    const ingestS = (performance.now() - t0) / 1000;
    console.log(
      `ingest: ${(n / ingestS).toFixed(0)} docs/s (${ingestS.toFixed(1)} s, precomputed embeddings, 1000 per request)`,
    );

    const qs = vectors(queries, dims, 7);
    const q = (i: number) => qs.subarray(i * dims, (i + 1) * dims);
    const coll = await memory.collectionRow(userId, 'bench');

    // Warm up: the first search loads the collection into the in-process index.
    const tl = performance.now();
    await memory.index.search(database.db, {
      ownerId: userId,
      collectionId: coll.id,
      version: coll.version,
      vector: q(0),
      k: 10,
    });
    console.log(`first search (loads ${n} vectors from SQLite): ${ms(performance.now() - tl)}`);

    const scan: number[] = [];
    const index: number[] = [];
    const service: number[] = [];
    const filtered: number[] = [];
    let agree = 0;
    for (let i = 0; i < queries; i++) {
      let t = performance.now();
      const base = plainScan(data, n, dims, q(i), 10);
      scan.push(performance.now() - t);
      t = performance.now();
      const hits = await memory.index.search(database.db, {
        ownerId: userId,
        collectionId: coll.id,
        version: coll.version,
        vector: q(i),
        k: 10,
      });
      index.push(performance.now() - t);
      // seq follows insertion order from 1, so seq - 1 is the row of the baseline array.
      if (hits.map((h) => h.seq - 1).join() === base.join()) agree++;
      t = performance.now();
      await memory.query({ userId }, 'bench', { embedding: Array.from(q(i)), mode: 'vector', top_k: 10 });
      service.push(performance.now() - t);
      if (i < 50) {
        t = performance.now();
        await memory.query({ userId }, 'bench', {
          embedding: Array.from(q(i)),
          mode: 'vector',
          top_k: 10,
          where: { topic: { $lt: 10 } },
        });
        filtered.push(performance.now() - t);
      }
    }
    const rows = [
      ['plain Float32Array scan (baseline)', scan],
      ['vector index (in-process, exact)', index],
      ['memory service query (index + rows)', service],
      ['service query with a metadata filter (~10%)', filtered],
    ] as const;
    console.log('\ntop-10 latency over', queries, 'queries');
    for (const [label, xs] of rows) console.log(`  ${label.padEnd(46)} p50 ${ms(pct(xs, 50))}  p99 ${ms(pct(xs, 99))}`);
    console.log(`\nindex p50 / scan p50 = ${(pct(index, 50) / pct(scan, 50)).toFixed(2)}x (budget 1.5x)`);
    console.log(`service p50 / scan p50 = ${(pct(service, 50) / pct(scan, 50)).toFixed(2)}x`);
    console.log(`exact results identical to the scan: ${agree}/${queries}`);
    console.log(
      `heap used: ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB, rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`,
    );
  } finally {
    await database.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
