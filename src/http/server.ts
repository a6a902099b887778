import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import addFormats from 'ajv-formats';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { AuthService } from '../auth/auth.service.js';
import type { Config } from '../config/config.js';
import { invalid } from '../errors/index.js';
import type { Metrics } from '../monitoring/metrics.js';
import { registerAuthHook, registerRouteAccess, routeConfigOf } from './auth-hook.js';
import { registerErrorHandler } from './error-handler.js';
import type { FixedWindowLimiter } from './fixed-window-limiter.js';
import { RequestLimits } from './request-limits.js';
import { lazySchemaCompilers } from './lazy-schemas.js';
import { isApiPath } from './paths.js';
import { ErrorBody } from './schemas.js';
import { AccessLog, LazyChildLogger } from '../logger.js';
import type { Logger } from 'pino';

export type HttpServer = FastifyInstance;
export type TypedServer = ReturnType<FastifyInstance['withTypeProvider']> & FastifyInstance;

export interface HttpServerDeps {
  config: Config;
  logger: FastifyBaseLogger;
  auth: AuthService;
  authAttempts: FixedWindowLimiter;
  metrics: Metrics;
  version: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

/**
 * Builds the Fastify instance with every cross-cutting plugin (errors, auth, rate limits, CORS,
 * security headers, OpenAPI, metrics). Routes are registered by the caller; `listen` is separate.
 */
export async function buildHttpServer(deps: HttpServerDeps) {
  const { config } = deps;
  const schemas = lazySchemaCompilers();
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: config.body_limit,
    trustProxy: config.trust_proxy,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // One line per request is written by our onResponse hook instead.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger, bindings, options) =>
      new LazyChildLogger(logger as Logger, bindings, options) as unknown as FastifyBaseLogger,
    return503OnClosing: true,
    // Plugins (the docs UI reads its files) may start slowly on a loaded machine; a slow start is not a failure.
    pluginTimeout: 60_000,
    forceCloseConnections: 'idle',
    schemaController: { compilersFactory: schemas.compilersFactory },
    ajv: {
      // Unknown fields are errors, not silently dropped; query strings still coerce to numbers.
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
      plugins: [[addFormats as never, { mode: 'fast', formats: ['date-time', 'email', 'uri', 'uuid'] }]],
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('compileAllSchemas', schemas.compileAll);
  registerRouteAccess(app);
  app.addSchema(ErrorBody);
  registerErrorHandler(app);
  refuseNulCharacters(app);

  const access = new AccessLog(deps.logger as Logger);
  // One hook after each answer, for its access line and its duration in the metrics. Hooks on every request are
  // callback-style, not async: an async hook costs a promise and a turn of the microtask queue each.
  app.addHook('onResponse', (request, reply, done) => {
    const route = routeConfigOf(request).url;
    const ms = reply.elapsedTime;
    access.write(
      request.id,
      request.method,
      route ?? request.url.split('?')[0]!,
      reply.statusCode,
      Math.round(ms * 100) / 100,
      request.principal?.userId,
    );
    deps.metrics.httpDuration.observe(request.method, route ?? 'unmatched', reply.statusCode, ms / 1000);
    done();
  });

  // The security headers do not depend on the request, so helmet computes them once here. (@fastify/helmet
  // rebuilds helmet's middleware, re-parsing the CSP, on every request: 14% of the CPU of a bare /health.)
  // Pages (the web UI, /docs) get helmet's full set for documents.
  const documentHeaders = helmetHeaders({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'https:'],
        connectSrc: ["'self'", 'ws:', 'wss:'],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    crossOriginEmbedderPolicy: false,
  });
  // API answers (JSON, SSE, metrics) get the set OWASP's REST Security Cheat Sheet gives for APIs, stricter where
  // it applies (nothing may load or frame an API answer opened as a page). The document-only headers (COOP,
  // Origin-Agent-Cluster, DNS prefetch, download and cross-domain policies, the XSS auditor) do nothing for a
  // JSON body, and each header costs every request: Clarion's full header set alone halves a hello-world's rate.
  const apiHeaders: Record<string, string> = {
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    'strict-transport-security': documentHeaders['strict-transport-security']!,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-resource-policy': 'same-origin',
  };
  // Strict-Transport-Security only on an answer that travels over HTTPS (RFC 6797 §7.2: a host must not send it
  // over plain HTTP, where browsers ignore it anyway). Clarion itself speaks HTTP; behind a TLS proxy with
  // trust_proxy on, X-Forwarded-Proto says the client used HTTPS.
  const { 'strict-transport-security': _hsts, ...plainDocumentHeaders } = documentHeaders;
  const { 'strict-transport-security': _apiHsts, ...plainApiHeaders } = apiHeaders;
  // One hook for what every request gets before anything else: its id and security headers (on error answers
  // too), and the refusal of a NUL in the URL.
  app.decorateRequest('routeConfig', null as never);
  app.addHook('onRequest', (request, reply, done) => {
    request.routeConfig = request.routeOptions.config;
    reply.header('x-request-id', request.id);
    const api = isApiPath(request.url);
    if (request.protocol === 'https') reply.headers(api ? apiHeaders : documentHeaders);
    else reply.headers(api ? plainApiHeaders : plainDocumentHeaders);
    if (/%00/i.test(request.url)) done(invalid('url', 'must not contain NUL characters'));
    else done();
  });

  // Only listed origins are echoed back; an unknown origin gets no CORS headers at all. With no list (the default)
  // no other site may call the API from a browser, so the plugin (3% of a bare request) is not registered at all.
  if (config.cors_origins.length > 0) {
    await app.register(cors, {
      origin: [...config.cors_origins],
      credentials: true,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-request-id', 'last-event-id'],
      exposedHeaders: ['x-request-id', 'retry-after', 'x-clarion-cache'],
      maxAge: 600,
    });
  }

  // After authentication, a signed-in caller is limited per user, anyone else per address.
  registerAuthHook(
    app,
    deps.auth,
    deps.authAttempts,
    new RequestLimits(config.rate_limit_user_per_minute, config.rate_limit_ip_per_minute),
  );

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Clarion API',
        version: deps.version,
        description: 'Agents, targets, capabilities, durable workflows, LLM gateway, chat and memory.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'An access JWT from /api/v1/auth/login or an API key (clk_...)',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    refResolver: {
      buildLocalReference: (json, _base, _frag, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  if (config.docs_enabled) {
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  }
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  return app;
}

/** The path (`/a/0/b`) of the first string holding a NUL character, or undefined. */
function nulPath(value: unknown, at = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? at : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\0')) return `${at}/${k.replaceAll('\0', '')}`;
    const found = nulPath(v, `${at}/${k}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * PostgreSQL text cannot hold U+0000, so a NUL anywhere in a request would end as a 500 deep in a query.
 * Refuse it at the edge instead: 400 naming the field, for the URL (path and query) and JSON bodies.
 */
function refuseNulCharacters(app: FastifyInstance): void {
  // The URL is checked in the onRequest hook above.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parseJson(request, body as string, (err: Error | null, value?: unknown) => {
      if (err) return done(err, undefined);
      // Only a JSON escape can put a NUL in a parsed string; skip the walk for the usual body without one.
      const at = /\\u0000/i.test(body as string) ? nulPath(value) : undefined;
      if (at !== undefined) return done(invalid(`body${at}`, 'must not contain NUL characters'), undefined);
      return done(null, value);
    });
  });
}

/** The headers helmet sets for `options`, computed once: with no function directives none depends on the request. */
function helmetHeaders(options: Readonly<HelmetOptions>): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string) => {
      headers[name.toLowerCase()] = value;
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err;
  });
  return headers;
}
