import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { ErrorCode } from '../errors/index.js';
import { AppError, errorCodes } from '../errors/index.js';
import { principalOf } from '../http/auth-hook.js';
import { idempotencyKeyOf } from './idempotency-key.js';
import { DelegateSchema, type CallInfo, type ChatRequest, type LlmCallContext } from './llm.js';
import type { LlmService } from './llm.service.js';
import { openEventStream, writeEvent } from '../http/event-stream.js';
import { CallCancel } from './call-cancel.js';

// OpenAI's request bodies grow new fields often; they are passed through to the provider, so only the
// fields Clarion itself reads are checked here.
const ChatBody = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 200 }),
    messages: Type.Array(
      Type.Object({ role: Type.String({ enum: ['system', 'developer', 'user', 'assistant', 'tool'] }) }),
      { minItems: 1, maxItems: 10_000 },
    ),
    stream: Type.Optional(Type.Boolean()),
    max_tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
    max_completion_tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
    delegate: Type.Optional(DelegateSchema),
    cache: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);

const EmbeddingsBody = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 200 }),
    input: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1, maxItems: 2048 })]),
    encoding_format: Type.Optional(Type.Union([Type.Literal('float'), Type.Literal('base64')])),
    dimensions: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536 })),
    user: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** Who calls, and the Idempotency-Key (checked here, sent on to the provider). */
function callContext(req: FastifyRequest, signal: CallCancel): LlmCallContext {
  const p = principalOf(req);
  const idem = idempotencyKeyOf(req.headers['idempotency-key']);
  return {
    userId: p.userId,
    ...(p.apiKeyId ? { apiKeyId: p.apiKeyId } : {}),
    signal,
    ...(idem !== undefined ? { idempotencyKey: idem } : {}),
  };
}

/**
 * Aborts the provider call when the client goes away before the answer is complete. A CallCancel, not an
 * AbortController: Node promotes every AbortSignal to the old generation (see CallCancel).
 */
function abortOnClose(reply: FastifyReply): CallCancel {
  const cancel = new CallCancel();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) cancel.abort();
  });
  return cancel;
}

function setInfoHeaders(reply: FastifyReply, info: CallInfo): void {
  reply.header('x-clarion-cache', info.cache);
  if (info.provider) reply.header('x-clarion-provider', info.provider);
}

/** An SSE error event in the body Clarion uses everywhere, for failures after the stream began. */
function sseError(err: unknown): string {
  const code: ErrorCode = err instanceof AppError ? err.code : 'INTERNAL';
  const message = err instanceof AppError ? err.message : errorCodes.INTERNAL.message;
  const details = err instanceof AppError ? err.details : undefined;
  return `data: ${JSON.stringify({ error: { code, message, type: code.toLowerCase(), ...(details ? { details } : {}) } })}\n\n`;
}

/** The OpenAI-compatible gateway under /v1, for outside clients and the official SDKs. */
export const gatewayRoutes: FastifyPluginAsyncTypebox<{ llm: LlmService }> = async (app, { llm }) => {
  app.post('/chat/completions', { schema: { tags: ['gateway'], body: ChatBody } }, async (req, reply) => {
    const body = req.body as unknown as ChatRequest;
    const cancel = abortOnClose(reply);
    const ctx = callContext(req, cancel);
    const info: CallInfo = { cache: 'off' };
    if (!body.stream) {
      const answer = await llm.chat(body, ctx, info);
      setInfoHeaders(reply, info);
      return reply.send(answer);
    }
    const it = llm.chatStream(body, ctx, info);
    // The first chunk is awaited before any header is sent: failures until then are plain JSON errors.
    const first = await it.next();
    // However the response ends — even a client gone before the body began to be read — the call is closed,
    // which ends its budget reservation and frees its deployment. A call already closed ignores this.
    const close = () => void it.return(undefined).catch(() => {});
    if (cancel.aborted) close();
    else reply.raw.once('close', close);
    setInfoHeaders(reply, info);
    const raw = openEventStream(reply, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    try {
      if (!first.done && !(await writeEvent(raw, `data: ${JSON.stringify(first.value)}\n\n`))) return;
      for (;;) {
        const n = await it.next();
        if (n.done) break;
        if (!(await writeEvent(raw, `data: ${JSON.stringify(n.value)}\n\n`))) return;
      }
      await writeEvent(raw, 'data: [DONE]\n\n');
    } catch (err) {
      if (!cancel.aborted) {
        req.log.warn({ err, code: (err as AppError).code }, 'model stream failed after it began');
        await writeEvent(raw, sseError(err));
      }
    } finally {
      await it.return(undefined);
      if (!raw.writableEnded) raw.end();
    }
  });

  app.post('/embeddings', { schema: { tags: ['gateway'], body: EmbeddingsBody } }, async (req, reply) => {
    const cancel = abortOnClose(reply);
    const b = req.body;
    const res = await llm.embed(
      { model: b.model, input: b.input, ...(b.dimensions ? { dimensions: b.dimensions } : {}) },
      callContext(req, cancel),
    );
    const base64 = b.encoding_format === 'base64';
    return reply.send({
      object: 'list',
      data: res.data.map((v, index) => ({
        object: 'embedding',
        index,
        embedding: base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
      })),
      model: res.model,
      usage: { prompt_tokens: res.usage.prompt_tokens, total_tokens: res.usage.prompt_tokens },
    });
  });

  app.get('/models', { schema: { tags: ['gateway'] } }, async () => ({
    object: 'list',
    data: llm.registry.knownModelIds().map((id) => ({ id, object: 'model', created: 0, owned_by: id.split('/')[0] })),
  }));
};
