import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../http/auth-hook.js';
import { Summary, SummaryQuery, Timeseries, TimeseriesQuery } from './analytics.js';
import type { AnalyticsService } from './analytics.service.js';

const tags = ['analytics'];

export const analyticsRoutes: FastifyPluginAsyncTypebox<{ analytics: AnalyticsService }> = async (
  app,
  { analytics },
) => {
  app.get(
    '/analytics/summary',
    { schema: { tags, querystring: SummaryQuery, response: { 200: Summary } } },
    async (req) => analytics.summary(principalOf(req).userId, req.query.since),
  );
  app.get(
    '/analytics/timeseries',
    { schema: { tags, querystring: TimeseriesQuery, response: { 200: Timeseries } } },
    async (req) => analytics.timeseries(principalOf(req).userId, req.query),
  );
};
