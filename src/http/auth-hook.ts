import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthService } from '../auth/auth.service.js';
import type { Principal } from '../auth/principal.js';
import { AppError } from '../errors/index.js';
import type { FixedWindowLimiter } from './fixed-window-limiter.js';
import type { RequestLimits } from './request-limits.js';
import { accessFor, allowedBeforePasswordChange, type Access } from './route-permissions.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook when the request carries valid credentials. */
    principal?: Principal;
    /**
     * The matched route's config (its access level, url and method), read once per request by the first hook:
     * `request.routeOptions` builds a new object on every read.
     */
    routeConfig: FastifyRequest['routeOptions']['config'];
  }
  interface FastifyContextConfig {
    access?: Access;
  }
}

/**
 * The matched route's config: as the first onRequest hook read it, or (an answer made before that hook ran)
 * read now.
 */
export function routeConfigOf(request: FastifyRequest): FastifyRequest['routeOptions']['config'] {
  return request.routeConfig ?? request.routeOptions.config;
}

/** The acting principal; only call on routes whose access is not `public`. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('UNAUTHENTICATED');
  return request.principal;
}

export function bearerOf(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) throw new AppError('UNAUTHENTICATED', 'Use "Authorization: Bearer <token or API key>".');
  return m[1];
}

const routeLists = new WeakMap<FastifyInstance, { method: string; url: string; access: Access }[]>();

/** Every route registered on this server, with the access level it was given (for tests and docs). */
export function registeredRoutes(app: FastifyInstance): readonly { method: string; url: string; access: Access }[] {
  return routeLists.get(app) ?? [];
}

/**
 * Gives every route its access level from the one table, refusing to register a route that has none.
 * Called before any plugin adds routes, so plugin routes (CORS preflight, docs) are covered too.
 */
export function registerRouteAccess(app: FastifyInstance): void {
  const list: { method: string; url: string; access: Access }[] = [];
  routeLists.set(app, list);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      const access = accessFor(method, route.url);
      if (!access) throw new Error(`route ${method} ${route.url} has no entry in src/http/route-permissions.ts`);
      route.config = { ...(route.config ?? {}), access };
      list.push({ method, url: route.url, access });
    }
  });
}

/**
 * On each request: authenticates the bearer credential, checks the route's access level, then counts the request
 * against its user's or address's rate limit.
 */
export function registerAuthHook(
  app: FastifyInstance,
  auth: AuthService,
  attempts: FixedWindowLimiter,
  limits: RequestLimits,
): void {
  // Callback-style, with a synchronous path for a credential seen recently (the usual request): an async hook
  // costs a promise and a microtask turn on every request.
  app.addHook('onRequest', (request, reply, done) => {
    const access = request.routeConfig.access;
    if (access === undefined) return done(); // 404 handler
    let token: string | undefined;
    try {
      token = bearerOf(request);
      if (token) {
        const key = `auth:${request.ip}`;
        const wait = attempts.retryAfter(key);
        if (wait > 0) {
          reply.header('retry-after', String(wait));
          throw new AppError('RATE_LIMITED', 'Too many failed sign-in attempts; retry later.', {
            retry_after_seconds: wait,
          });
        }
        const cached = auth.cachedPrincipal(token);
        if (!cached) {
          auth.authenticate(token).then(
            (principal) => {
              request.principal = principal;
              admit(request, reply, access, limits, done);
            },
            (err: unknown) => {
              if (err instanceof AppError && err.status === 401) attempts.hit(key);
              done(err as Error);
            },
          );
          return;
        }
        request.principal = cached;
      }
    } catch (err) {
      return done(err as Error);
    }
    admit(request, reply, access, limits, done);
  });
}

/** With the principal known (or none): the route's access level, then the rate limit. */
function admit(
  request: FastifyRequest,
  reply: FastifyReply,
  access: Access,
  limits: RequestLimits,
  done: (err?: Error) => void,
): void {
  try {
    if (access !== 'public') requireAccess(request, access);
    limits.apply(request, reply);
  } catch (err) {
    return done(err as Error);
  }
  done();
}

/**
 * Throws unless the request's principal may use `access`: the check the auth hook makes for every route,
 * for the few handlers whose requirement depends on configuration (`/metrics`).
 */
export function requireAccess(request: FastifyRequest, access: Exclude<Access, 'public'>): void {
  const p = request.principal;
  if (!p) throw new AppError('UNAUTHENTICATED');
  if (p.mustChangePassword && !allowedBeforePasswordChange.has(`${request.method} ${request.routeConfig.url}`)) {
    throw new AppError('PASSWORD_CHANGE_REQUIRED');
  }
  if (access !== 'authenticated' && !p.permissions.has(access)) {
    throw new AppError('FORBIDDEN', `This needs the permission ${access}.`, { permission: access });
  }
}
