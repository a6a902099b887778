import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { principalOf } from '../http/auth-hook.js';
import { pageLimit } from '../http/pagination.js';
import { IdParams, Page } from '../http/schemas.js';
import {
  ConversationListQuery,
  ConversationSchema,
  ConversationWithMessages,
  CreateConversationBody,
  MessageSchema,
  RegenerateBody,
  SendMessageBody,
  UpdateConversationBody,
  type ChatEvent,
  type ChatMessageView,
} from './chat.js';
import type { ChatService } from './chat.service.js';
import { openEventStream, writeEvent } from '../http/event-stream.js';

export interface ChatRoutesDeps {
  chat: ChatService;
  maxPageSize: number;
}

const tags = ['chat'];

const Answer = Type.Object({
  message: Type.Optional(MessageSchema),
  answer: MessageSchema,
  title: Type.Optional(Type.String()),
});

/**
 * Sends a generation as server-sent events (`event: <type>` + JSON data), or waits for it and answers once.
 * The first event is awaited before the stream opens, so a missing conversation or a busy one is a plain
 * JSON error. A client that goes away does not stop the answer: it is finished and stored (use /stop).
 */
async function deliver(req: FastifyRequest, reply: FastifyReply, events: AsyncGenerator<ChatEvent>, stream: boolean) {
  if (!stream) {
    let message: ChatMessageView | undefined;
    let answer: ChatMessageView | undefined;
    let title: string | undefined;
    for await (const e of events) {
      if (e.type === 'message') message = e.message;
      if (e.type === 'title') title = e.title;
      if (e.type === 'done') answer = e.message;
    }
    return reply.send({ ...(message ? { message } : {}), answer: answer!, ...(title ? { title } : {}) });
  }
  const first = await events.next();
  const raw = openEventStream(reply, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  });
  // A client gone stops the writing, not the generation: it is still read to its end and stored.
  const write = async (e: ChatEvent) => {
    const { type, ...data } = e;
    await writeEvent(raw, `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  try {
    if (!first.done) await write(first.value);
    for await (const e of events) await write(e);
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'INTERNAL';
    await write({ type: 'error', code, message: err instanceof Error ? err.message : 'failed' });
    req.log.error({ err }, 'chat stream failed');
  } finally {
    if (!raw.writableEnded) raw.end();
  }
}

export const chatRoutes: FastifyPluginAsyncTypebox<ChatRoutesDeps> = async (app, { chat, maxPageSize }) => {
  app.get(
    '/conversations',
    { schema: { tags, querystring: ConversationListQuery, response: { 200: Page(ConversationSchema) } } },
    async (req) =>
      chat.list(principalOf(req).userId, { limit: pageLimit(req.query.limit, maxPageSize), cursor: req.query.cursor }),
  );

  app.post(
    '/conversations',
    { schema: { tags, body: CreateConversationBody, response: { 201: ConversationSchema } } },
    async (req, reply) => reply.status(201).send(await chat.create(principalOf(req).userId, req.body)),
  );

  app.get(
    '/conversations/:id',
    { schema: { tags, params: IdParams, response: { 200: ConversationWithMessages } } },
    async (req) => chat.get(principalOf(req).userId, req.params.id),
  );

  app.patch(
    '/conversations/:id',
    { schema: { tags, params: IdParams, body: UpdateConversationBody, response: { 200: ConversationSchema } } },
    async (req) => chat.rename(principalOf(req).userId, req.params.id, req.body.title),
  );

  app.delete(
    '/conversations/:id',
    { schema: { tags, params: IdParams, response: { 204: Type.Null() } } },
    async (req, reply) => {
      await chat.remove(principalOf(req).userId, req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/conversations/:id/messages',
    {
      schema: {
        tags,
        description:
          'Ask; the answer streams as server-sent events (message, citations, delta..., title, done) unless `stream` is false.',
        params: IdParams,
        body: SendMessageBody,
        response: { 200: Answer },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const events = chat.send({ userId: p.userId, apiKeyId: p.apiKeyId }, req.params.id, req.body);
      return deliver(req, reply, events, req.body.stream !== false);
    },
  );

  app.post(
    '/conversations/:id/regenerate',
    { schema: { tags, params: IdParams, body: Type.Optional(RegenerateBody), response: { 200: Answer } } },
    async (req, reply) => {
      const p = principalOf(req);
      const events = chat.regenerate({ userId: p.userId, apiKeyId: p.apiKeyId }, req.params.id);
      return deliver(req, reply, events, req.body?.stream !== false);
    },
  );

  app.post(
    '/conversations/:id/stop',
    { schema: { tags, params: IdParams, response: { 200: Type.Object({ stopped: Type.Boolean() }) } } },
    async (req) => chat.stop(principalOf(req).userId, req.params.id),
  );
};
