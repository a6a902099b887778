import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, errorCodes, type ErrorCode } from '../errors/index.js';

interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** `/body/steps/0/id` style path of the offending field, naming the unknown or missing property itself. */
function fieldOf(issue: ValidationIssue, context: string | undefined): string {
  let path = issue.instancePath ?? '';
  const extra = issue.params?.additionalProperty ?? issue.params?.missingProperty;
  if (typeof extra === 'string') path = `${path}/${extra}`;
  return `${context ?? 'body'}${path}`;
}

function body(code: ErrorCode, message?: string, details?: unknown) {
  return {
    error: { code, message: message ?? errorCodes[code].message, ...(details !== undefined ? { details } : {}) },
  };
}

/** One error body everywhere: `{ error: { code, message, details } }` with the registry's status. */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
    if (err instanceof AppError) {
      if (err.headers) reply.headers(err.headers);
      if (err.status >= 500) request.log.error({ err }, 'request failed');
      return reply.status(err.status).send(body(err.code, err.message, err.details));
    }
    const fe = err as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
    if (fe.validation) {
      const issues = fe.validation.map((v) => ({
        field: fieldOf(v, fe.validationContext),
        message: v.keyword === 'additionalProperties' ? 'is not an allowed field' : (v.message ?? 'is invalid'),
      }));
      const first = issues[0]!;
      return reply
        .status(400)
        .send(body('VALIDATION_FAILED', `${first.field}: ${first.message}`, { field: first.field, issues }));
    }
    switch (fe.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.status(413).send(body('PAYLOAD_TOO_LARGE'));
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.status(415).send(body('UNSUPPORTED_MEDIA_TYPE'));
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return reply
          .status(400)
          .send(body('INVALID_JSON', 'The request body is empty; send JSON or omit the content type.'));
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return reply.status(400).send(body('INVALID_JSON'));
      default:
        break;
    }
    if (fe instanceof SyntaxError || fe.statusCode === 400) {
      return reply.status(400).send(body('INVALID_JSON', fe.message));
    }
    if (fe.statusCode === 429) return reply.status(429).send(body('RATE_LIMITED'));
    if (fe.statusCode === 413) return reply.status(413).send(body('PAYLOAD_TOO_LARGE'));
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(body('INTERNAL'));
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(body('ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}.`));
  });
}
