import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../errors/index.js';
import { principalOf } from '../http/auth-hook.js';
import type { FixedWindowLimiter } from '../http/fixed-window-limiter.js';
import type { AuthService } from './auth.service.js';
import type { Principal } from './principal.js';
import type { UserService } from './user.service.js';
import { ChangePasswordBody, LoginBody, LogoutBody, Me, RefreshBody, RegisterBody, TokenPair, User } from './user.js';

export interface AuthRoutesDeps {
  auth: AuthService;
  users: UserService;
  attempts: FixedWindowLimiter;
}

const tags = ['auth'];

export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesDeps> = async (app, { auth, users, attempts }) => {
  app.post('/register', { schema: { tags, body: RegisterBody, response: { 201: User } } }, async (req, reply) =>
    reply.status(201).send(await users.register(req.principal, req.body)),
  );

  app.post(
    '/login',
    { schema: { tags, security: [], body: LoginBody, response: { 200: TokenPair } } },
    async (req, reply) => {
      // Each attempt is counted before the password is checked, so a burst of concurrent guesses is limited
      // too; a successful sign-in is then taken back, so only failures use up the address's allowance.
      const key = `auth:${req.ip}`;
      const wait = attempts.retryAfter(key);
      if (wait > 0) {
        throw new AppError(
          'RATE_LIMITED',
          'Too many sign-in attempts; retry later.',
          { retry_after_seconds: wait },
          {
            'retry-after': String(wait),
          },
        );
      }
      attempts.hit(key);
      const pair = await auth.login(req.body.username, req.body.password, {
        ip: req.ip,
        ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
      });
      attempts.refund(key);
      return reply.send(pair);
    },
  );

  app.post(
    '/refresh',
    { schema: { tags, security: [], body: RefreshBody, response: { 200: TokenPair } } },
    async (req) => auth.refresh(req.body.refresh_token),
  );

  app.post(
    '/logout',
    {
      schema: { tags, body: LogoutBody, response: { 204: Type.Null() } },
      // The body is optional: a bare `POST /logout` ends the session of the access token.
      preValidation: async (req) => {
        req.body ??= {};
      },
    },
    async (req, reply) => {
      await auth.logout(principalOf(req), req.body.refresh_token);
      return reply.status(204).send(null);
    },
  );

  // A principal with its user is a snapshot, shared by the requests that bring its credential for up to
  // auth_cache_ttl, so its answer is serialised (by the route's response schema) once and sent as is while it lasts.
  // Without it, turning the user and its ~30 permissions into JSON was the largest piece of Clarion's own work on this
  // route. The handler is synchronous for the same reason: an async one costs a promise and a microtask turn.
  const meBodies = new WeakMap<Principal, string>();
  const meBody = (reply: FastifyReply, p: Principal, user: User): string =>
    reply.serialize({ user, permissions: [...p.permissions].sort(), via: p.via }) as string;
  const me = (req: FastifyRequest, reply: FastifyReply): void => {
    const p = principalOf(req);
    reply.type('application/json; charset=utf-8');
    // The user as read with the credential (at most auth_cache_ttl old, and never across a change made here).
    if (p.user) {
      let body = meBodies.get(p);
      if (body === undefined) meBodies.set(p, (body = meBody(reply, p, p.user)));
      reply.send(body);
      return;
    }
    users.get(p.userId).then(
      (user) => reply.send(meBody(reply, p, user)),
      (err: Error) => reply.send(err),
    );
  };
  app.get('/me', { schema: { tags, response: { 200: Me } } }, me);

  app.post(
    '/password',
    { schema: { tags, body: ChangePasswordBody, response: { 204: Type.Null() } } },
    async (req, reply) => {
      await users.changeOwnPassword(principalOf(req), req.body.current_password, req.body.new_password);
      return reply.status(204).send(null);
    },
  );
};
