import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { Type } from 'typebox';
import type { Database } from '../db/database.js';
import { pendingMigrations } from '../db/migrator.js';
import { requireAccess } from '../http/auth-hook.js';
import type { Metrics } from './metrics.js';

export interface HealthDeps {
  database: Database;
  metrics: Metrics;
  metricsEnabled: boolean;
  /** Serve /metrics without credentials. */
  metricsPublic: boolean;
  version: string;
  startedAt: number;
  /** Further readiness checks registered by other modules (queue, providers, ...). */
  checks: Map<string, () => Promise<void>>;
}

const Check = Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()), ms: Type.Number() });

export const healthRoutes: FastifyPluginAsyncTypebox<HealthDeps> = async (app, deps) => {
  app.get(
    '/health',
    { schema: { tags: ['system'], security: [], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['system'],
        security: [],
        response: {
          '2xx': Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Check) }),
          503: Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Check) }),
        },
      },
    },
    async (_req, reply) => {
      const checks: Record<string, { ok: boolean; error?: string; ms: number }> = {};
      const run = async (name: string, fn: () => Promise<void>) => {
        const t = performance.now();
        try {
          await fn();
          checks[name] = { ok: true, ms: performance.now() - t };
        } catch (err) {
          checks[name] = { ok: false, error: (err as Error).message, ms: performance.now() - t };
        }
      };
      await run('database', async () => {
        await sql`select 1`.execute(deps.database.db);
      });
      await run('migrations', async () => {
        const pending = await pendingMigrations(deps.database);
        if (pending.length > 0) throw new Error(`pending: ${pending.join(', ')}`);
      });
      for (const [name, fn] of deps.checks) await run(name, fn);
      const ok = Object.values(checks).every((c) => c.ok);
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks });
    },
  );

  if (deps.metricsEnabled) {
    app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
      // Route counts, latencies and process figures describe the installation: by default only a caller with
      // system:read (a Prometheus job with a scoped API key) sees them; metrics_public opens them.
      if (!deps.metricsPublic) requireAccess(req, 'system:read');
      reply.header('content-type', deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    });
  }

  app.get(
    '/api/v1/system/info',
    {
      schema: {
        tags: ['system'],
        response: {
          200: Type.Object({
            version: Type.String(),
            node: Type.String(),
            database: Type.String(),
            uptime_seconds: Type.Number(),
            rss_bytes: Type.Number(),
          }),
        },
      },
    },
    async () => ({
      version: deps.version,
      node: process.version,
      database: deps.database.dialect,
      uptime_seconds: Math.round((Date.now() - deps.startedAt) / 1000),
      rss_bytes: process.memoryUsage().rss,
    }),
  );
};
