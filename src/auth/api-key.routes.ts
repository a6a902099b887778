import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/auth-hook.js';
import { IdParams } from '../http/schemas.js';
import type { ApiKeyService } from './api-key.service.js';
import { ApiKey, CreateApiKeyBody, CreatedApiKey } from './user.js';

const tags = ['api-keys'];

export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ apiKeys: ApiKeyService }> = async (app, { apiKeys }) => {
  app.get(
    '/api-keys',
    { schema: { tags, response: { 200: Type.Object({ items: Type.Array(ApiKey) }) } } },
    async (req) => ({
      items: await apiKeys.list(principalOf(req)),
    }),
  );

  app.post(
    '/api-keys',
    { schema: { tags, body: CreateApiKeyBody, response: { 201: CreatedApiKey } } },
    async (req, reply) => reply.status(201).send(await apiKeys.create(principalOf(req), req.body)),
  );

  app.delete('/api-keys/:id', { schema: { tags, params: IdParams, response: { 200: ApiKey } } }, async (req) =>
    apiKeys.revoke(principalOf(req), req.params.id),
  );
};
