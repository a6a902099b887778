import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { RunService } from '../engine/run.service.js';
import { StartRunBody } from '../engine/run.js';
import { principalOf } from '../http/auth-hook.js';
import { pageLimit } from '../http/pagination.js';
import { IdParams, Page, StrictObject } from '../http/schemas.js';
import { WorkflowDefinitionSchema } from './workflow-definition.js';
import {
  ValidateResult,
  Workflow,
  WorkflowBody,
  WorkflowListQuery,
  WorkflowSummary,
  WorkflowVersion,
} from './workflow.js';
import type { WorkflowService } from './workflow.service.js';

export interface WorkflowRoutesDeps {
  workflows: WorkflowService;
  runs: RunService;
  maxPageSize: number;
}

const tags = ['workflows'];
const VersionParams = StrictObject({
  id: Type.String({ minLength: 1, maxLength: 200 }),
  version: Type.Integer({ minimum: 1 }),
});
const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});

export const workflowRoutes: FastifyPluginAsyncTypebox<WorkflowRoutesDeps> = async (
  app,
  { workflows, runs, maxPageSize },
) => {
  // A POST without a body means "no options" (curl -X POST, the CLI), not a validation error.
  app.addHook('preValidation', async (req) => {
    if (req.method === 'POST' && (req.body === undefined || req.body === null)) req.body = {};
  });

  // The published JSON Schema of a definition (editors and CI validate against it).
  const schemaJson = JSON.parse(JSON.stringify(WorkflowDefinitionSchema)) as Record<string, unknown>;
  app.get('/workflows/schema', { schema: { tags, response: { 200: Type.Unknown() } } }, async () => schemaJson);

  app.post(
    '/workflows/validate',
    { schema: { tags, body: WorkflowBody, response: { 200: ValidateResult } } },
    async (req) => {
      const r = await workflows.validate(req.body, principalOf(req).userId);
      return r.ok
        ? { valid: true, issues: [], definition: r.definition }
        : { valid: false, issues: r.issues, definition: null };
    },
  );

  app.get(
    '/workflows',
    { schema: { tags, querystring: WorkflowListQuery, response: { 200: Page(WorkflowSummary) } } },
    async (req) =>
      workflows.list(principalOf(req).userId, { ...req.query, limit: pageLimit(req.query.limit, maxPageSize) }),
  );

  app.post('/workflows', { schema: { tags, body: WorkflowBody, response: { 201: Workflow } } }, async (req, reply) =>
    reply.status(201).send(await workflows.create(principalOf(req), req.body)),
  );

  app.get('/workflows/:id', { schema: { tags, params: IdParams, response: { 200: Workflow } } }, async (req) =>
    workflows.get(principalOf(req).userId, req.params.id),
  );

  app.put(
    '/workflows/:id',
    { schema: { tags, params: IdParams, body: WorkflowBody, response: { 200: Workflow } } },
    async (req) => workflows.update(principalOf(req), req.params.id, req.body),
  );

  app.delete(
    '/workflows/:id',
    { schema: { tags, params: IdParams, response: { 204: Type.Null() } } },
    async (req, reply) => {
      await workflows.remove(principalOf(req).userId, req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/workflows/:id/versions',
    { schema: { tags, params: IdParams, response: { 200: Type.Object({ items: Type.Array(WorkflowVersion) }) } } },
    async (req) => ({ items: await workflows.versions(principalOf(req).userId, req.params.id) }),
  );

  app.get(
    '/workflows/:id/versions/:version',
    { schema: { tags, params: VersionParams, response: { 200: WorkflowVersion } } },
    async (req) => workflows.version(principalOf(req).userId, req.params.id, req.params.version),
  );

  app.post(
    '/workflows/:id/runs',
    {
      schema: {
        tags: ['runs'],
        params: IdParams,
        headers: IdempotencyHeaders,
        body: StartRunBody,
        response: { 202: Type.Object({ run_id: Type.String(), status: Type.String(), created: Type.Boolean() }) },
      },
    },
    async (req, reply) => {
      const { run, created } = await runs.start(principalOf(req).userId, req.params.id, {
        inputs: req.body.inputs,
        idempotencyKey: req.headers['idempotency-key'],
        trigger: 'manual',
      });
      return reply.status(202).send({ run_id: run.id, status: run.status, created });
    },
  );
};
