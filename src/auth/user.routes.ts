import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Config } from '../config/config.js';
import { principalOf } from '../http/auth-hook.js';
import { pageLimit } from '../http/pagination.js';
import { IdParams, Page } from '../http/schemas.js';
import type { RoleService } from './role.service.js';
import { CreateUserBody, ResetPasswordBody, RoleInfo, UpdateUserBody, User, UserListQuery } from './user.js';
import type { UserService } from './user.service.js';

export interface UserRoutesDeps {
  users: UserService;
  roles: RoleService;
  config: Config;
}

const tags = ['users'];

export const userRoutes: FastifyPluginAsyncTypebox<UserRoutesDeps> = async (app, { users, roles, config }) => {
  app.get('/users', { schema: { tags, querystring: UserListQuery, response: { 200: Page(User) } } }, async (req) =>
    users.list({ ...req.query, limit: pageLimit(req.query.limit, config.max_page_size) }),
  );

  app.post(
    '/users',
    {
      schema: {
        tags,
        body: CreateUserBody,
        response: { 201: Type.Object({ user: User, password: Type.Optional(Type.String()) }) },
      },
    },
    async (req, reply) => {
      // Only a role the admin holds may be granted; a generated password is shown once, here.
      const { user, generatedPassword } = await users.createAs(principalOf(req), req.body);
      return reply.status(201).send({ user, ...(generatedPassword ? { password: generatedPassword } : {}) });
    },
  );

  app.get('/users/:id', { schema: { tags, params: IdParams, response: { 200: User } } }, async (req) =>
    users.get(req.params.id),
  );

  app.patch(
    '/users/:id',
    { schema: { tags, params: IdParams, body: UpdateUserBody, response: { 200: User } } },
    async (req) => users.update(principalOf(req), req.params.id, req.body),
  );

  app.delete(
    '/users/:id',
    { schema: { tags, params: IdParams, response: { 204: Type.Null() } } },
    async (req, reply) => {
      await users.remove(principalOf(req), req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/users/:id/reset-password',
    {
      schema: {
        tags,
        params: IdParams,
        body: ResetPasswordBody,
        response: { 200: Type.Object({ password: Type.String({ description: 'shown once' }) }) },
      },
    },
    async (req) => users.resetPassword(req.params.id, req.body.password),
  );

  app.get('/roles', { schema: { tags, response: { 200: Type.Array(RoleInfo) } } }, async () => roles.list());
};
