import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/auth-hook.js';
import { pageLimit } from '../http/pagination.js';
import { IdParams, Page } from '../http/schemas.js';
import { CreateTargetBody, PatchTargetBody, Target, TargetListQuery, TargetTestResult } from './target.js';
import type { TargetService } from './target.service.js';

export interface TargetRoutesDeps {
  targets: TargetService;
  maxPageSize: number;
}

const tags = ['targets'];

export const targetRoutes: FastifyPluginAsyncTypebox<TargetRoutesDeps> = async (app, { targets, maxPageSize }) => {
  app.get(
    '/targets',
    { schema: { tags, querystring: TargetListQuery, response: { 200: Page(Target) } } },
    async (req) =>
      targets.list(principalOf(req).userId, { ...req.query, limit: pageLimit(req.query.limit, maxPageSize) }),
  );

  app.post('/targets', { schema: { tags, body: CreateTargetBody, response: { 201: Target } } }, async (req, reply) =>
    reply.status(201).send(await targets.create(principalOf(req).userId, req.body)),
  );

  app.get('/targets/:id', { schema: { tags, params: IdParams, response: { 200: Target } } }, async (req) =>
    targets.get(principalOf(req).userId, req.params.id),
  );

  app.put(
    '/targets/:id',
    { schema: { tags, params: IdParams, body: CreateTargetBody, response: { 200: Target } } },
    async (req) => targets.replace(principalOf(req).userId, req.params.id, req.body),
  );

  app.patch(
    '/targets/:id',
    { schema: { tags, params: IdParams, body: PatchTargetBody, response: { 200: Target } } },
    async (req) => targets.patch(principalOf(req).userId, req.params.id, req.body),
  );

  app.delete(
    '/targets/:id',
    { schema: { tags, params: IdParams, response: { 204: Type.Null() } } },
    async (req, reply) => {
      await targets.remove(principalOf(req).userId, req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/targets/:id/test',
    { schema: { tags, params: IdParams, response: { 200: TargetTestResult } } },
    async (req) => targets.test(principalOf(req).userId, req.params.id),
  );
};
