import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/auth-hook.js';
import { IdParams, Page, StrictObject } from '../http/schemas.js';
import {
  AliasParams,
  Budget,
  CreateProviderBody,
  ModelAlias,
  ModelInfo,
  ModelPrice,
  Provider,
  ProviderHealth,
  PutAliasBody,
  PutBudgetBody,
  PutPriceBody,
  UpdateProviderBody,
  UsageQuery,
  UsageRecord,
} from './llm.js';
import type { LlmService } from './llm.service.js';

const ModelParams = StrictObject({ model: Type.String({ minLength: 1, maxLength: 200 }) });
const UsageTotals = Type.Object({
  calls: Type.Number(),
  prompt_tokens: Type.Number(),
  completion_tokens: Type.Number(),
  cost: Type.Number(),
  cache_hits: Type.Number(),
});
const UsageSummary = Type.Object({
  since: Type.String(),
  ...UsageTotals.properties,
  by_model: Type.Array(Type.Object({ model: Type.String(), ...UsageTotals.properties })),
});

/** Providers, models, aliases, prices, budgets and usage under /api/v1. */
export const llmRoutes: FastifyPluginAsyncTypebox<{ llm: LlmService }> = async (app, { llm }) => {
  const reg = llm.registry;

  app.get(
    '/providers',
    { schema: { tags: ['llm'], response: { 200: Type.Object({ items: Type.Array(Provider) }) } } },
    async () => ({ items: reg.listProviders() }),
  );
  app.post(
    '/providers',
    { schema: { tags: ['llm'], body: CreateProviderBody, response: { 201: Provider } } },
    async (req, reply) => reply.status(201).send(await reg.createProvider(principalOf(req), req.body)),
  );
  app.get('/providers/:id', { schema: { tags: ['llm'], params: IdParams, response: { 200: Provider } } }, async (req) =>
    reg.getProvider(req.params.id),
  );
  app.patch(
    '/providers/:id',
    { schema: { tags: ['llm'], params: IdParams, body: UpdateProviderBody, response: { 200: Provider } } },
    async (req) => reg.updateProvider(req.params.id, req.body),
  );
  app.delete('/providers/:id', { schema: { tags: ['llm'], params: IdParams } }, async (req, reply) => {
    await reg.deleteProvider(req.params.id);
    return reply.status(204).send();
  });
  app.post(
    '/providers/:id/test',
    { schema: { tags: ['llm'], params: IdParams, response: { 200: ProviderHealth } } },
    async (req) => reg.testProvider(req.params.id),
  );

  app.get(
    '/models',
    {
      schema: {
        tags: ['llm'],
        response: { 200: Type.Object({ items: Type.Array(ModelInfo), aliases: Type.Array(Type.String()) }) },
      },
    },
    async () => ({ items: await reg.listModels(), aliases: reg.listAliases().map((a) => a.alias) }),
  );

  app.get(
    '/model-aliases',
    { schema: { tags: ['llm'], response: { 200: Type.Object({ items: Type.Array(ModelAlias) }) } } },
    async () => ({ items: reg.listAliases() }),
  );
  app.put(
    '/model-aliases/:alias',
    { schema: { tags: ['llm'], params: AliasParams, body: PutAliasBody, response: { 200: ModelAlias } } },
    async (req) => reg.putAlias(principalOf(req), req.params.alias, req.body),
  );
  app.delete('/model-aliases/:alias', { schema: { tags: ['llm'], params: AliasParams } }, async (req, reply) => {
    await reg.deleteAlias(req.params.alias);
    return reply.status(204).send();
  });

  app.get(
    '/model-prices',
    { schema: { tags: ['llm'], response: { 200: Type.Object({ items: Type.Array(ModelPrice) }) } } },
    async () => ({ items: reg.listPrices() }),
  );
  app.put(
    '/model-prices/:model',
    { schema: { tags: ['llm'], params: ModelParams, body: PutPriceBody, response: { 200: ModelPrice } } },
    async (req) => reg.putPrice(principalOf(req), req.params.model, req.body),
  );
  app.delete('/model-prices/:model', { schema: { tags: ['llm'], params: ModelParams } }, async (req, reply) => {
    await reg.deletePrice(req.params.model);
    return reply.status(204).send();
  });

  app.get(
    '/budgets',
    { schema: { tags: ['llm'], response: { 200: Type.Object({ items: Type.Array(Budget) }) } } },
    async (req) => ({ items: await llm.budgets.list(principalOf(req)) }),
  );
  app.put('/budgets', { schema: { tags: ['llm'], body: PutBudgetBody, response: { 200: Budget } } }, async (req) =>
    llm.budgets.put(principalOf(req), req.body),
  );
  app.delete('/budgets/:id', { schema: { tags: ['llm'], params: IdParams } }, async (req, reply) => {
    await llm.budgets.remove(principalOf(req), req.params.id);
    return reply.status(204).send();
  });

  app.get(
    '/usage',
    { schema: { tags: ['llm'], querystring: UsageQuery, response: { 200: Page(UsageRecord) } } },
    async (req) => llm.listUsage(principalOf(req), req.query),
  );
  app.get(
    '/usage/summary',
    {
      schema: {
        tags: ['llm'],
        querystring: Type.Object({
          user_id: Type.Optional(Type.String({ maxLength: 100 })),
          all: Type.Optional(Type.Boolean()),
          since: Type.Optional(Type.String({ format: 'date-time' })),
        }),
        response: { 200: UsageSummary },
      },
    },
    async (req) => llm.usageSummary(principalOf(req), req.query),
  );
};
