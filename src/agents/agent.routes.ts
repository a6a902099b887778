import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/auth-hook.js';
import { pageLimit } from '../http/pagination.js';
import { IdParams, Page } from '../http/schemas.js';
import { Agent, AgentListQuery, CreateAgentBody, PatchAgentBody } from './agent.js';
import type { AgentService } from './agent.service.js';

export interface AgentRoutesDeps {
  agents: AgentService;
  maxPageSize: number;
}

const tags = ['agents'];

export const agentRoutes: FastifyPluginAsyncTypebox<AgentRoutesDeps> = async (app, { agents, maxPageSize }) => {
  app.get('/agents', { schema: { tags, querystring: AgentListQuery, response: { 200: Page(Agent) } } }, async (req) =>
    agents.list(principalOf(req).userId, { ...req.query, limit: pageLimit(req.query.limit, maxPageSize) }),
  );

  app.post('/agents', { schema: { tags, body: CreateAgentBody, response: { 201: Agent } } }, async (req, reply) =>
    reply.status(201).send(await agents.create(principalOf(req).userId, req.body)),
  );

  app.get('/agents/:id', { schema: { tags, params: IdParams, response: { 200: Agent } } }, async (req) =>
    agents.get(principalOf(req).userId, req.params.id),
  );

  app.put(
    '/agents/:id',
    { schema: { tags, params: IdParams, body: CreateAgentBody, response: { 200: Agent } } },
    async (req) => agents.replace(principalOf(req).userId, req.params.id, req.body),
  );

  app.patch(
    '/agents/:id',
    { schema: { tags, params: IdParams, body: PatchAgentBody, response: { 200: Agent } } },
    async (req) => agents.patch(principalOf(req).userId, req.params.id, req.body),
  );

  app.delete(
    '/agents/:id',
    { schema: { tags, params: IdParams, response: { 204: Type.Null() } } },
    async (req, reply) => {
      await agents.remove(principalOf(req).userId, req.params.id);
      return reply.status(204).send(null);
    },
  );
};
