import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../http/auth-hook.js';
import { pageLimit } from '../http/pagination.js';
import { IdParams, Page, StrictObject } from '../http/schemas.js';
import { invalid } from '../errors/index.js';
import { exportMemory, importMemory } from './memory-archive.js';
import type { Principal } from '../auth/principal.js';
import type { EmbedContext } from './embedder.js';
import {
  AddDocumentsBody,
  CollectionListQuery,
  CollectionSchema,
  CreateCollectionBody,
  DeleteDocumentsBody,
  DocumentSchema,
  GetDocumentsBody,
  QueryBody,
  SearchHitSchema,
  UpdateCollectionBody,
} from './memory.js';
import type { MemoryService } from './memory.service.js';

export interface MemoryRoutesDeps {
  memory: MemoryService;
  maxPageSize: number;
  /** Largest memory export accepted by import, in bytes. */
  importLimit: number;
}

const tags = ['memory'];

export const embedContext = (p: Principal, signal?: AbortSignal): EmbedContext => ({
  userId: p.userId,
  ...(p.apiKeyId ? { apiKeyId: p.apiKeyId } : {}),
  ...(signal ? { signal } : {}),
});

/** REST for collections and documents under `/api/v1/memory`. */
export const memoryRoutes: FastifyPluginAsyncTypebox<MemoryRoutesDeps> = async (
  app,
  { memory, maxPageSize, importLimit },
) => {
  // Imports are binary (gzip, or sealed); only this plugin's routes read such bodies.
  app.addContentTypeParser(
    ['application/gzip', 'application/octet-stream'],
    { parseAs: 'buffer', bodyLimit: importLimit },
    (_req, body, done) => done(null, body),
  );

  app.post(
    '/memory/export',
    {
      schema: {
        tags,
        description: 'All your memory, or the named collections, as one gzip file (sealed when a passphrase is given).',
        body: StrictObject({
          collections: Type.Optional(
            Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 1000 }),
          ),
          passphrase: Type.Optional(Type.String({ minLength: 8, maxLength: 1000 })),
        }),
      },
    },
    async (req, reply) => {
      const file = await exportMemory(memory, principalOf(req).userId, req.body);
      const name = `clarion-memory-${new Date().toISOString().slice(0, 10)}.${req.body.passphrase ? 'bin' : 'jsonl.gz'}`;
      return reply
        .type(req.body.passphrase ? 'application/octet-stream' : 'application/gzip')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(file);
    },
  );

  app.post(
    '/memory/import',
    {
      schema: {
        tags,
        description:
          'Body: a file from /memory/export (content-type application/gzip or application/octet-stream); the passphrase of a sealed one in the x-clarion-passphrase header.',
        querystring: StrictObject({ replace: Type.Optional(Type.Boolean()) }),
        response: {
          200: Type.Object({
            collections: Type.Array(Type.Object({ name: Type.String(), documents: Type.Integer() })),
          }),
        },
      },
    },
    async (req) => {
      if (!Buffer.isBuffer(req.body))
        throw invalid('body', 'send the export file as application/gzip or application/octet-stream');
      const passphrase = req.headers['x-clarion-passphrase'];
      return importMemory(memory, principalOf(req).userId, req.body, {
        passphrase: typeof passphrase === 'string' ? passphrase : undefined,
        replace: req.query.replace === true,
      });
    },
  );

  app.get(
    '/memory/collections',
    { schema: { tags, querystring: CollectionListQuery, response: { 200: Page(CollectionSchema) } } },
    async (req) =>
      memory.listCollections(principalOf(req).userId, {
        limit: pageLimit(req.query.limit, maxPageSize),
        cursor: req.query.cursor,
      }),
  );

  app.post(
    '/memory/collections',
    { schema: { tags, body: CreateCollectionBody, response: { 201: CollectionSchema } } },
    async (req, reply) => {
      const { collection } = await memory.createCollection(principalOf(req).userId, req.body);
      return reply.status(201).send(collection);
    },
  );

  app.get(
    '/memory/collections/:id',
    { schema: { tags, params: IdParams, response: { 200: CollectionSchema } } },
    async (req) => memory.getCollection(principalOf(req).userId, req.params.id),
  );

  app.patch(
    '/memory/collections/:id',
    { schema: { tags, params: IdParams, body: UpdateCollectionBody, response: { 200: CollectionSchema } } },
    async (req) => memory.updateCollection(principalOf(req).userId, req.params.id, req.body),
  );

  app.delete(
    '/memory/collections/:id',
    { schema: { tags, params: IdParams, response: { 204: Type.Null() } } },
    async (req, reply) => {
      await memory.deleteCollection(principalOf(req).userId, req.params.id);
      return reply.status(204).send(null);
    },
  );

  const WriteResult = Type.Object({
    ids: Type.Array(Type.String()),
    chunks: Type.Integer({ description: 'rows stored, counting each chunk of a split document' }),
  });

  app.post(
    '/memory/collections/:id/documents',
    { schema: { tags, params: IdParams, body: AddDocumentsBody, response: { 201: WriteResult } } },
    async (req, reply) => {
      const r = await memory.addDocuments(embedContext(principalOf(req)), req.params.id, req.body.documents, {
        onExisting: 'error',
        ...(req.body.chunk !== undefined ? { chunk: req.body.chunk } : {}),
      });
      return reply.status(201).send(r);
    },
  );

  app.put(
    '/memory/collections/:id/documents',
    { schema: { tags, params: IdParams, body: AddDocumentsBody, response: { 200: WriteResult } } },
    async (req) =>
      memory.addDocuments(embedContext(principalOf(req)), req.params.id, req.body.documents, {
        onExisting: 'replace',
        ...(req.body.chunk !== undefined ? { chunk: req.body.chunk } : {}),
      }),
  );

  app.post(
    '/memory/collections/:id/documents/get',
    {
      schema: {
        tags,
        params: IdParams,
        body: GetDocumentsBody,
        response: { 200: Type.Object({ items: Type.Array(DocumentSchema) }) },
      },
    },
    async (req) => ({ items: await memory.getDocuments(principalOf(req).userId, req.params.id, req.body) }),
  );

  app.post(
    '/memory/collections/:id/documents/delete',
    {
      schema: {
        tags,
        params: IdParams,
        body: DeleteDocumentsBody,
        response: { 200: Type.Object({ deleted: Type.Integer() }) },
      },
    },
    async (req) => ({ deleted: await memory.deleteDocuments(principalOf(req).userId, req.params.id, req.body) }),
  );

  app.get(
    '/memory/collections/:id/count',
    { schema: { tags, params: IdParams, response: { 200: Type.Object({ count: Type.Integer() }) } } },
    async (req) => ({ count: await memory.count(principalOf(req).userId, req.params.id) }),
  );

  app.post(
    '/memory/collections/:id/query',
    {
      schema: {
        tags,
        params: IdParams,
        body: QueryBody,
        response: { 200: Type.Object({ mode: Type.String(), items: Type.Array(SearchHitSchema) }) },
      },
    },
    async (req) => {
      const mode = req.body.mode ?? (req.body.query === undefined ? 'vector' : 'hybrid');
      return { mode, items: await memory.query(embedContext(principalOf(req)), req.params.id, req.body) };
    },
  );
};
