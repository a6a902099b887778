import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { EventBus } from '../events/event-bus.js';
import { principalOf } from '../http/auth-hook.js';
import { pageLimit } from '../http/pagination.js';
import { IdParams, Page, StrictObject } from '../http/schemas.js';
import { DecisionBody, RunDetail, RunEventSchema, RunListQuery, RunSummary } from './run.js';
import type { RunService } from './run.service.js';
import { streamRunEvents } from './run-event-stream.js';
import { openEventStream } from '../http/event-stream.js';

export interface RunRoutesDeps {
  runs: RunService;
  bus: EventBus;
  maxPageSize: number;
}

const tags = ['runs'];
const StepParams = StrictObject({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  step: Type.String({ minLength: 1, maxLength: 100 }),
});
const EventsQuery = StrictObject({
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'replay events after this sequence number' })),
});

export const runRoutes: FastifyPluginAsyncTypebox<RunRoutesDeps> = async (app, { runs, bus, maxPageSize }) => {
  // A POST without a body means "no options" (curl -X POST, the CLI), not a validation error.
  app.addHook('preValidation', async (req) => {
    if (req.method === 'POST' && (req.body === undefined || req.body === null)) req.body = {};
  });

  app.get('/runs', { schema: { tags, querystring: RunListQuery, response: { 200: Page(RunSummary) } } }, async (req) =>
    runs.list(principalOf(req).userId, { ...req.query, limit: pageLimit(req.query.limit, maxPageSize) }),
  );

  app.get('/runs/:id', { schema: { tags, params: IdParams, response: { 200: RunDetail } } }, async (req) =>
    runs.get(principalOf(req).userId, req.params.id),
  );

  app.post('/runs/:id/cancel', { schema: { tags, params: IdParams, response: { 200: RunSummary } } }, async (req) =>
    runs.cancel(principalOf(req).userId, req.params.id),
  );

  app.post('/runs/:id/retry', { schema: { tags, params: IdParams, response: { 200: RunSummary } } }, async (req) =>
    runs.retry(principalOf(req).userId, req.params.id),
  );

  for (const decision of ['approve', 'reject'] as const) {
    app.post(
      `/runs/:id/steps/:step/${decision}`,
      { schema: { tags, params: StepParams, body: DecisionBody, response: { 200: RunSummary } } },
      async (req) => {
        const p = principalOf(req);
        return runs.decide(p.userId, req.params.id, req.params.step, decision, p.username, req.body.comment);
      },
    );
  }

  /**
   * Server-sent events: stored events after `Last-Event-ID` (or `?after=`), then live ones, ending
   * after the run's final event. `Accept: application/json` gives the stored events as a list instead.
   */
  // A stream follows its run for as long as it lasts (an approval can wait for days): on shutdown it is ended,
  // so the server can close, and the client reconnects with Last-Event-ID (to another node, or after restart).
  const openStreams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...openStreams]) end();
  });

  app.get(
    '/runs/:id/events',
    {
      schema: {
        tags,
        params: IdParams,
        querystring: EventsQuery,
        response: { 200: Type.Object({ items: Type.Array(RunEventSchema) }) },
      },
    },
    async (req, reply) => {
      const userId = principalOf(req).userId;
      const header = req.headers['last-event-id'];
      const fromHeader = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
      const after = fromHeader ?? req.query.after ?? 0;
      const run = await runs.find(userId, req.params.id);
      if (!String(req.headers.accept ?? '').includes('text/event-stream')) {
        return { items: await runs.events(userId, run.id, after) };
      }
      // The request's headers (request id, security headers, CORS) go with the stream's own.
      const res = openEventStream(reply, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      await streamRunEvents(req.raw, res, { runs, bus, run, after, open: openStreams });
      return reply;
    },
  );
};
