import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/auth-hook.js';
import { pageLimit } from '../http/pagination.js';
import { IdParams, Page } from '../http/schemas.js';
import {
  Capability,
  CapabilityListQuery,
  CheckBody,
  CheckResult,
  CreateCapabilityBody,
  PatchCapabilityBody,
} from './capability.js';
import type { CapabilityService } from './capability.service.js';

export interface CapabilityRoutesDeps {
  capabilities: CapabilityService;
  maxPageSize: number;
}

const tags = ['capabilities'];

export const capabilityRoutes: FastifyPluginAsyncTypebox<CapabilityRoutesDeps> = async (
  app,
  { capabilities, maxPageSize },
) => {
  app.get(
    '/capabilities',
    { schema: { tags, querystring: CapabilityListQuery, response: { 200: Page(Capability) } } },
    async (req) =>
      capabilities.list(principalOf(req).userId, { ...req.query, limit: pageLimit(req.query.limit, maxPageSize) }),
  );

  app.post(
    '/capabilities',
    { schema: { tags, body: CreateCapabilityBody, response: { 201: Capability } } },
    async (req, reply) => reply.status(201).send(await capabilities.create(principalOf(req).userId, req.body)),
  );

  app.post(
    '/capabilities/check',
    {
      schema: {
        tags,
        summary: 'Whether an agent may use a capability on a target, and why not',
        body: CheckBody,
        response: { 200: CheckResult },
      },
    },
    async (req) => capabilities.checkCompatibility({ userId: principalOf(req).userId, ...req.body }),
  );

  app.get('/capabilities/:id', { schema: { tags, params: IdParams, response: { 200: Capability } } }, async (req) =>
    capabilities.get(principalOf(req).userId, req.params.id),
  );

  app.put(
    '/capabilities/:id',
    { schema: { tags, params: IdParams, body: CreateCapabilityBody, response: { 200: Capability } } },
    async (req) => capabilities.replace(principalOf(req).userId, req.params.id, req.body),
  );

  app.patch(
    '/capabilities/:id',
    { schema: { tags, params: IdParams, body: PatchCapabilityBody, response: { 200: Capability } } },
    async (req) => capabilities.patch(principalOf(req).userId, req.params.id, req.body),
  );

  app.delete(
    '/capabilities/:id',
    { schema: { tags, params: IdParams, response: { 204: Type.Null() } } },
    async (req, reply) => {
      await capabilities.remove(principalOf(req).userId, req.params.id);
      return reply.status(204).send(null);
    },
  );
};
