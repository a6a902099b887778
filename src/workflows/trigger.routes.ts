import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../errors/index.js';
import { principalOf } from '../http/auth-hook.js';
import { FixedWindowLimiter } from '../http/fixed-window-limiter.js';
import { IdParams, Nullable, StrictObject } from '../http/schemas.js';
import type { TriggerService } from './trigger.service.js';

const TriggerSchema = Type.Object({
  id: Type.String(),
  workflow_id: Type.String(),
  kind: Type.String(),
  cron: Nullable(Type.String()),
  timezone: Nullable(Type.String()),
  hook_path: Nullable(Type.String()),
  signed: Type.Boolean(),
  inputs: Type.Record(Type.String(), Type.Unknown()),
  enabled: Type.Boolean(),
  next_run_at: Nullable(Type.String()),
  last_run_at: Nullable(Type.String()),
  created_at: Type.String(),
});

const CreateTriggerBody = StrictObject({
  kind: Type.Union([Type.Literal('schedule'), Type.Literal('webhook')]),
  cron: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  secret: Type.Optional(Type.String({ minLength: 16, maxLength: 512, description: 'HMAC-SHA256 key (write-only)' })),
  inputs: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

const tags = ['workflows'];

export const triggerRoutes: FastifyPluginAsyncTypebox<{ triggers: TriggerService }> = async (app, { triggers }) => {
  app.get(
    '/workflows/:id/triggers',
    { schema: { tags, params: IdParams, response: { 200: Type.Object({ items: Type.Array(TriggerSchema) }) } } },
    async (req) => ({ items: await triggers.list(principalOf(req).userId, req.params.id) }),
  );
  app.post(
    '/workflows/:id/triggers',
    { schema: { tags, params: IdParams, body: CreateTriggerBody, response: { 201: TriggerSchema } } },
    async (req, reply) =>
      reply.status(201).send(await triggers.create(principalOf(req).userId, req.params.id, req.body)),
  );
  app.delete(
    '/workflows/:id/triggers/:trigger',
    {
      schema: {
        tags,
        params: StrictObject({ id: Type.String({ maxLength: 200 }), trigger: Type.String({ maxLength: 100 }) }),
        response: { 204: Type.Null() },
      },
    },
    async (req, reply) => {
      await triggers.remove(principalOf(req).userId, req.params.id, req.params.trigger);
      return reply.status(204).send(null);
    },
  );
};

/** `POST /hooks/:token`: public (the token is the credential), optional HMAC signature, per-hook rate limit. */
export const hookRoutes: FastifyPluginAsyncTypebox<{ triggers: TriggerService; perMinute: number }> = async (
  app,
  { triggers, perMinute },
) => {
  const limiter = new FixedWindowLimiter(perMinute, 60_000);
  // The signature covers the exact bytes sent, so the body is kept raw here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post(
    '/hooks/:token',
    {
      schema: {
        tags: ['workflows'],
        params: StrictObject({ token: Type.String({ minLength: 10, maxLength: 100 }) }),
        response: { 202: Type.Object({ run_id: Type.String() }) },
      },
    },
    async (req, reply) => {
      const key = `hook:${req.params.token}`;
      const wait = limiter.retryAfter(key);
      if (wait > 0) {
        throw new AppError(
          'RATE_LIMITED',
          'This hook is called too often; retry later.',
          { retry_after_seconds: wait },
          {
            'retry-after': String(wait),
          },
        );
      }
      limiter.hit(key);
      const sig = req.headers['x-clarion-signature'];
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const runId = await triggers.fireHook(req.params.token, body, typeof sig === 'string' ? sig : undefined);
      return reply.status(202).send({ run_id: runId });
    },
  );
};
