/**
 * How long the event loop waits on a SQLite commit, with WAL checkpoints made inside commits (SQLite's default, the
 * baseline) and on Clarion's checkpoint thread (src/db/wal-checkpointer.ts), measured in the same run.
 *
 * The load is the LLM gateway's: batches of usage rows (the real llm_usage table with its indexes, written by
 * LlmRepository.insertUsage) at a steady pace. Each case gets a fresh, migrated database in a temp folder, a
 * warm-up (during which the checkpoint thread starts, as it does in a server once the WAL has grown), then
 * measured batches; the cases alternate.
 *
 * `npm run bench -- sqlite-commit [--rows 50] [--every 20] [--batches 1000] [--warmup 250] [--rounds 2]`
 */
import os from 'node:os';
import path from 'node:path';
import { createDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrator.js';
import { timeOrderedId } from '../src/db/time-ordered-id.js';
import { LlmRepository } from '../src/llm/llm.repository.js';
import type { LlmUsageTable } from '../src/llm/llm.tables.js';
import { argValue, percentile, removeTempDirsOnExit, table, tempDir } from './support/processes.js';

interface Figures {
  commits: number[];
  stalls: number;
  worstStall: number;
}

async function measure(
  background: boolean,
  o: { rows: number; every: number; batches: number; warmup: number },
): Promise<Figures> {
  const dir = tempDir('commit');
  const database = createDatabase({ url: `sqlite:${path.join(dir, 'bench.db')}`, dataDir: dir });
  try {
    await migrate(database);
    if (background) database.checkpointInBackground((err) => console.error('checkpoint thread failed:', err));
    const repo = new LlmRepository();
    const row = (): LlmUsageTable => ({
      id: timeOrderedId(),
      user_id: '0190a5c2-7d1e-7000-8000-00000000000a',
      api_key_id: '0190a5c2-7d1e-7000-8000-00000000000b',
      agent_id: null,
      run_id: null,
      step_id: null,
      kind: 'chat',
      provider: 'openai',
      model: 'gpt-4o-mini',
      prompt_tokens: 812,
      completion_tokens: 164,
      cost: 0.000221,
      latency_ms: 412.5,
      ttft_ms: null,
      cache_hit: 0,
      stream: 0,
      outcome: 'ok',
      error_code: null,
      created_at: new Date().toISOString(),
    });
    // Event-loop stalls: a 1 ms timer that fires late.
    let last = performance.now();
    let stalls = 0;
    let worstStall = 0;
    let measuring = false;
    const timer = setInterval(() => {
      const now = performance.now();
      const late = now - last - 1;
      last = now;
      if (!measuring) return;
      if (late > 5) stalls++;
      worstStall = Math.max(worstStall, late);
    }, 1);
    const commits: number[] = [];
    for (let b = 0; b < o.warmup + o.batches; b++) {
      await new Promise((r) => setTimeout(r, o.every));
      measuring = b >= o.warmup;
      const rows = Array.from({ length: o.rows }, row);
      const t = performance.now();
      await repo.insertUsage(database.db, rows);
      if (measuring) commits.push(performance.now() - t);
    }
    clearInterval(timer);
    return { commits, stalls, worstStall };
  } finally {
    await database.destroy();
  }
}

export async function run(args: string[]): Promise<void> {
  removeTempDirsOnExit();
  const o = {
    rows: Number(argValue(args, 'rows') ?? 50),
    every: Number(argValue(args, 'every') ?? 20),
    batches: Number(argValue(args, 'batches') ?? 1000),
    warmup: Number(argValue(args, 'warmup') ?? 250),
  };
  const rounds = Number(argValue(args, 'rounds') ?? 2);
  console.log(
    `sqlite-commit: ${o.rows} llm_usage rows per commit every ${o.every} ms; ${o.warmup} warm-up and ${o.batches} ` +
      `measured commits per case; ${rounds} alternating round(s); Node ${process.version}, ${os.cpus().length} cores\n`,
  );
  const cases = [
    { label: 'checkpoints inside commits (SQLite default, baseline)', background: false },
    { label: 'checkpoints on the checkpoint thread', background: true },
  ];
  const results = new Map<string, Figures[]>();
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const f = await measure(c.background, o);
      results.set(c.label, [...(results.get(c.label) ?? []), f]);
    }
  }
  const rows: (string | number)[][] = [];
  for (const c of cases) {
    for (const [i, f] of (results.get(c.label) ?? []).entries()) {
      const s = [...f.commits].sort((a, b) => a - b);
      const q = (p: number) => percentile(s, p).toFixed(2);
      rows.push([
        `${c.label} #${i + 1}`,
        s.length,
        q(50),
        q(99),
        s[s.length - 1]!.toFixed(2),
        s.filter((x) => x > 5).length,
        f.stalls,
        f.worstStall.toFixed(1),
      ]);
    }
  }
  console.log(table(['case', 'commits', 'p50 ms', 'p99 ms', 'max ms', '> 5 ms', 'stalls > 5 ms', 'worst stall'], rows));
}
