import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { invalid } from '../errors/index.js';
import type { Summary, Timeseries, TimeseriesQuery } from './analytics.js';

const DAY = 86_400_000;
/** Rows one aggregation reads at most; windows are capped so this is rarely reached. */
const MAX_ROWS = 200_000;

/**
 * Aggregates over the durable records the engine keeps anyway (runs, step attempts) and the LLM
 * layer's usage rows: every figure is scoped to the asking user.
 */
export class AnalyticsService {
  constructor(private readonly db: Db) {}

  async summary(userId: string, sinceRaw?: string): Promise<Summary> {
    const since = sinceRaw ? new Date(sinceRaw).toISOString() : new Date(Date.now() - 30 * DAY).toISOString();
    const today = new Date().toISOString().slice(0, 10);
    const runs = await this.db
      .selectFrom('runs')
      .select(['status', 'duration_ms', 'created_at'])
      .where('user_id', '=', userId)
      .where('created_at', '>=', since)
      .limit(MAX_ROWS)
      .execute();
    const finished = runs.filter((r) => ['completed', 'failed', 'cancelled'].includes(r.status));
    const durations = finished
      .map((r) => r.duration_ms)
      .filter((d): d is number => d !== null)
      .sort((a, b) => a - b);
    const attempts = await this.db
      .selectFrom('step_attempts')
      .select(['task_type', 'agent', 'status', 'duration_ms'])
      .where('user_id', '=', userId)
      .where('started_at', '>=', since)
      .limit(MAX_ROWS)
      .execute();
    const caps = new Map<string, { attempts: number; failures: number; total: number; timed: number }>();
    const agents = new Set<string>();
    for (const a of attempts) {
      if (a.agent) agents.add(a.agent);
      const c = caps.get(a.task_type) ?? { attempts: 0, failures: 0, total: 0, timed: 0 };
      c.attempts++;
      if (a.status === 'failed') c.failures++;
      if (a.duration_ms !== null) {
        c.total += a.duration_ms;
        c.timed++;
      }
      caps.set(a.task_type, c);
    }
    return {
      since,
      active_agents: agents.size,
      agents: await this.countOwned('agents', userId),
      target_systems: await this.countOwned('targets', userId),
      runs_today: runs.filter((r) => r.created_at.startsWith(today)).length,
      total_runs: runs.length,
      success_rate: finished.length ? finished.filter((r) => r.status === 'completed').length / finished.length : null,
      avg_duration_ms: durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : null,
      p95_duration_ms: durations.length
        ? durations[Math.min(durations.length - 1, Math.ceil(durations.length * 0.95) - 1)]!
        : null,
      step_attempts: attempts.length,
      top_capabilities: [...caps.entries()]
        .sort((a, b) => b[1].attempts - a[1].attempts)
        .slice(0, 10)
        .map(([capability, c]) => ({
          capability,
          attempts: c.attempts,
          failures: c.failures,
          avg_duration_ms: c.timed ? c.total / c.timed : null,
        })),
    };
  }

  async timeseries(userId: string, q: TimeseriesQuery): Promise<Timeseries> {
    const bucket = q.bucket ?? 'hour';
    const until = q.until ? Date.parse(q.until) : Date.now();
    const since = q.since ? Date.parse(q.since) : until - (bucket === 'hour' ? DAY : 30 * DAY);
    const maxSpan = bucket === 'hour' ? 31 * DAY : 366 * DAY;
    if (!(since < until)) throw invalid('since', 'must be before until');
    if (until - since > maxSpan)
      throw invalid('since', `the window may span at most ${bucket === 'hour' ? '31 days of hours' : '366 days'}`);
    const sinceIso = new Date(since).toISOString();
    const untilIso = new Date(until).toISOString();
    const key = (iso: string) =>
      bucket === 'hour' ? `${iso.slice(0, 13)}:00:00.000Z` : `${iso.slice(0, 10)}T00:00:00.000Z`;

    let runsQ = this.db
      .selectFrom('runs')
      .select(['id', 'status', 'created_at'])
      .where('user_id', '=', userId)
      .where('created_at', '>=', sinceIso)
      .where('created_at', '<', untilIso);
    if (q.workflow) runsQ = runsQ.where('workflow_id', '=', q.workflow);
    if (q.agent || q.capability) {
      runsQ = runsQ.where('id', 'in', (eb) => {
        let sub = eb.selectFrom('step_attempts').select('run_id').where('user_id', '=', userId);
        if (q.agent) sub = sub.where('agent', '=', q.agent);
        if (q.capability) sub = sub.where('task_type', '=', q.capability);
        return sub;
      });
    }
    const runs = await runsQ.limit(MAX_ROWS).execute();
    const points = new Map<string, { runs: number; failures: number; tokens: number; cost: number }>();
    const point = (t: string) => {
      let p = points.get(t);
      if (!p) points.set(t, (p = { runs: 0, failures: 0, tokens: 0, cost: 0 }));
      return p;
    };
    for (let t = Date.parse(key(sinceIso)); t < until; t += bucket === 'hour' ? 3_600_000 : DAY) {
      point(new Date(t).toISOString());
    }
    for (const r of runs) {
      const p = point(key(r.created_at));
      p.runs++;
      if (r.status === 'failed') p.failures++;
    }
    for (const u of await this.usage(userId, sinceIso, untilIso, q)) {
      const p = point(key(u.created_at));
      p.tokens += Number(u.prompt_tokens) + Number(u.completion_tokens);
      p.cost += Number(u.cost);
    }
    return {
      bucket,
      points: [...points.entries()]
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([t, p]) => ({ t, ...p, cost: Math.round(p.cost * 1e6) / 1e6 })),
    };
  }

  /** Token and cost rows of the LLM layer (table `llm_usage`), when it is installed. */
  private async usage(userId: string, since: string, until: string, q: TimeseriesQuery) {
    try {
      let uq = this.db
        .selectFrom('llm_usage')
        .select(['created_at', 'prompt_tokens', 'completion_tokens', 'cost'])
        .where('user_id', '=', userId)
        .where('created_at', '>=', since)
        .where('created_at', '<', until);
      if (q.agent) uq = uq.where('agent_id', '=', q.agent);
      if (q.workflow || q.capability) {
        uq = uq.where('run_id', 'in', (eb) => {
          let sub = eb.selectFrom('step_attempts').select('run_id').where('user_id', '=', userId);
          if (q.workflow) sub = sub.where('workflow_id', '=', q.workflow);
          if (q.capability) sub = sub.where('task_type', '=', q.capability);
          return sub;
        });
      }
      return await uq.limit(MAX_ROWS).execute();
    } catch {
      return [];
    }
  }

  private async countOwned(table: 'agents' | 'targets', userId: string): Promise<number> {
    try {
      const r = await sql<{
        n: number;
      }>`select count(*) as n from ${sql.table(table)} where owner_id = ${userId}`.execute(this.db);
      return Number(r.rows[0]?.n ?? 0);
    } catch {
      return 0;
    }
  }
}
