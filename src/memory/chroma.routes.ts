import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError, invalid } from '../errors/index.js';
import { principalOf } from '../http/auth-hook.js';
import { StrictObject } from '../http/schemas.js';
import { version } from '../version.js';
import type { Collection, MemoryDocument } from './memory.js';
import type { MemoryService } from './memory.service.js';
import { embedContext } from './memory.routes.js';

export interface ChromaRoutesDeps {
  memory: MemoryService;
}

/**
 * The subset of Chroma's v2 HTTP API that the official clients use for collections and records, over
 * Clarion memory: a Chroma collection is a memory collection of the calling user (one tenant and one
 * database per user, named `default_tenant` / `default_database`). Clients send their own embeddings, as
 * Chroma clients do; distances are cosine distances (1 - cosine similarity).
 */
export const TENANT = 'default_tenant';
export const DATABASE = 'default_database';

const tags = ['chroma'];
// Values are checked by the memory service; the schema would let ajv coerce numbers to strings.
const Scalar = Type.Unknown();
const MetadataIn = Nullable(Type.Record(Type.String(), Scalar));
// As many as pre-flight-checks announces as max_batch_size (the client checks it too).
const Ids = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 1000 });
const Embeddings = Type.Array(Type.Array(Type.Number(), { maxItems: 8192 }), { maxItems: 1000 });
const Include = Type.Array(
  Type.Union(['documents', 'embeddings', 'metadatas', 'distances', 'uris'].map((v) => Type.Literal(v))),
);
const Filter = Nullable(Type.Record(Type.String(), Type.Any()));

function Nullable<T extends Parameters<typeof Type.Union>[0][number]>(t: T) {
  return Type.Union([t, Type.Null()]);
}

const DbParams = StrictObject({ tenant: Type.String({ maxLength: 200 }), database: Type.String({ maxLength: 200 }) });
const CollParams = StrictObject({
  tenant: Type.String({ maxLength: 200 }),
  database: Type.String({ maxLength: 200 }),
  collection_id: Type.String({ minLength: 1, maxLength: 200 }),
});

const RecordsBody = StrictObject({
  ids: Ids,
  embeddings: Type.Optional(Nullable(Embeddings)),
  documents: Type.Optional(Nullable(Type.Array(Nullable(Type.String())))),
  metadatas: Type.Optional(Nullable(Type.Array(MetadataIn))),
  uris: Type.Optional(Nullable(Type.Array(Nullable(Type.String())))),
});

const GetBody = StrictObject({
  ids: Type.Optional(Nullable(Ids)),
  where: Type.Optional(Filter),
  where_document: Type.Optional(Filter),
  limit: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
  offset: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
  include: Type.Optional(Include),
});

const QueryBody = StrictObject({
  ids: Type.Optional(Nullable(Ids)),
  where: Type.Optional(Filter),
  where_document: Type.Optional(Filter),
  n_results: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 1000 }))),
  query_embeddings: Embeddings,
  include: Type.Optional(Include),
});

const DeleteBody = StrictObject({
  ids: Type.Optional(Nullable(Ids)),
  where: Type.Optional(Filter),
  where_document: Type.Optional(Filter),
  limit: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
});

const CreateBody = StrictObject({
  name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
  metadata: Type.Optional(MetadataIn),
  configuration: Type.Optional(Nullable(Type.Record(Type.String(), Type.Any()))),
  schema: Type.Optional(Nullable(Type.Record(Type.String(), Type.Any()))),
  get_or_create: Type.Optional(Type.Boolean()),
});

const UpdateCollectionBody = StrictObject({
  new_name: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100 }))),
  new_metadata: Type.Optional(MetadataIn),
  new_configuration: Type.Optional(Nullable(Type.Record(Type.String(), Type.Any()))),
});

function checkDb(tenant: string, database: string): void {
  if (tenant !== TENANT) throw new AppError('NOT_FOUND', `Tenant ${tenant} not found; Clarion serves "${TENANT}".`);
  if (database !== DATABASE) {
    throw new AppError('NOT_FOUND', `Database ${database} not found; Clarion serves "${DATABASE}".`);
  }
}

function chromaCollection(c: Collection) {
  return {
    id: c.id,
    name: c.name,
    tenant: TENANT,
    database: DATABASE,
    metadata: Object.keys(c.metadata).length ? c.metadata : null,
    configuration_json: { hnsw: { space: 'cosine' }, embedding_function: null },
    schema: null,
    dimension: c.embedding.dimensions,
    log_position: 0,
    version: 0,
  };
}

/** Chroma sends `null` for absent metadata values and whole records; Clarion stores only set keys. */
function cleanMetadata(m: Record<string, unknown> | null | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(m ?? {})) {
    if (v !== null && v !== undefined) out[k] = v as string | number | boolean;
  }
  return out;
}

function recordsOf(body: {
  ids: string[];
  embeddings?: number[][] | null | undefined;
  documents?: (string | null)[] | null | undefined;
  metadatas?: (Record<string, unknown> | null)[] | null | undefined;
}) {
  const n = body.ids.length;
  for (const [field, arr] of [
    ['embeddings', body.embeddings],
    ['documents', body.documents],
    ['metadatas', body.metadatas],
  ] as const) {
    if (arr && arr.length !== n) throw invalid(field, `has ${arr.length} entries for ${n} ids`);
  }
  return body.ids.map((id, i) => ({
    id,
    content: body.documents?.[i] ?? '',
    metadata: cleanMetadata(body.metadatas?.[i]),
    embedding: body.embeddings?.[i] ?? undefined,
  }));
}

function columns(docs: MemoryDocument[], include: string[]) {
  return {
    ids: docs.map((d) => d.id),
    documents: include.includes('documents') ? docs.map((d) => d.content) : null,
    metadatas: include.includes('metadatas')
      ? docs.map((d) => (Object.keys(d.metadata).length ? d.metadata : null))
      : null,
    embeddings: include.includes('embeddings') ? docs.map((d) => d.embedding ?? null) : null,
    uris: null,
    include,
  };
}

export const chromaRoutes: FastifyPluginAsyncTypebox<ChromaRoutesDeps> = async (app, { memory }) => {
  const base = '/tenants/:tenant/databases/:database';
  const coll = `${base}/collections/:collection_id`;

  app.get('/heartbeat', { schema: { tags } }, async () => ({
    'nanosecond heartbeat': Number(process.hrtime.bigint() % BigInt(Number.MAX_SAFE_INTEGER)),
  }));
  app.get('/version', { schema: { tags } }, async () => version);
  app.get('/pre-flight-checks', { schema: { tags } }, async () => ({
    max_batch_size: 1000,
    supports_base64_encoding: false,
  }));
  app.get('/auth/identity', { schema: { tags } }, async (req) => ({
    user_id: principalOf(req).userId,
    tenant: TENANT,
    databases: [DATABASE],
  }));
  app.get(
    '/tenants/:tenant',
    { schema: { tags, params: StrictObject({ tenant: Type.String({ maxLength: 200 }) }) } },
    async (req) => {
      checkDb(req.params.tenant, DATABASE);
      return { name: TENANT };
    },
  );
  app.get(base, { schema: { tags, params: DbParams } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    return { id: DATABASE, name: DATABASE, tenant: TENANT };
  });

  app.get(
    `${base}/collections`,
    {
      schema: {
        tags,
        params: DbParams,
        querystring: StrictObject({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          offset: Type.Optional(Type.Integer({ minimum: 0 })),
        }),
      },
    },
    async (req) => {
      checkDb(req.params.tenant, req.params.database);
      const page = await memory.listCollections(principalOf(req).userId, {
        limit: req.query.limit ?? 100,
        offset: req.query.offset ?? 0,
      });
      return page.items.map(chromaCollection);
    },
  );

  app.get(`${base}/collections_count`, { schema: { tags, params: DbParams } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    return memory.countCollections(principalOf(req).userId);
  });

  app.post(`${base}/collections`, { schema: { tags, params: DbParams, body: CreateBody } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    const space = req.body.configuration?.hnsw?.space ?? req.body.metadata?.['hnsw:space'];
    if (space !== undefined && space !== null && space !== 'cosine') {
      throw invalid('configuration/hnsw/space', 'Clarion memory measures cosine distance only');
    }
    const { collection } = await memory.createCollection(
      principalOf(req).userId,
      { name: req.body.name, metadata: cleanMetadata(req.body.metadata), embedding: { embedder: 'none' } },
      { getOrCreate: req.body.get_or_create === true },
    );
    return chromaCollection(collection);
  });

  app.get(coll, { schema: { tags, params: CollParams } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    return chromaCollection(await memory.getCollection(principalOf(req).userId, req.params.collection_id));
  });

  app.put(coll, { schema: { tags, params: CollParams, body: UpdateCollectionBody } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    await memory.updateCollection(principalOf(req).userId, req.params.collection_id, {
      ...(req.body.new_name ? { name: req.body.new_name } : {}),
      ...(req.body.new_metadata ? { metadata: cleanMetadata(req.body.new_metadata) } : {}),
    });
    return {};
  });

  app.delete(coll, { schema: { tags, params: CollParams } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    await memory.deleteCollection(principalOf(req).userId, req.params.collection_id);
    return {};
  });

  for (const [op, onExisting] of [
    ['add', 'skip'],
    ['upsert', 'replace'],
  ] as const) {
    app.post(`${coll}/${op}`, { schema: { tags, params: CollParams, body: RecordsBody } }, async (req, reply) => {
      checkDb(req.params.tenant, req.params.database);
      await memory.addDocuments(embedContext(principalOf(req)), req.params.collection_id, recordsOf(req.body), {
        onExisting,
        chunk: false,
      });
      return reply.status(op === 'add' ? 201 : 200).send({});
    });
  }

  app.post(`${coll}/update`, { schema: { tags, params: CollParams, body: RecordsBody } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    const userId = principalOf(req).userId;
    // Update changes only the fields given, of records that exist; unknown ids are ignored, as Chroma does.
    const existing = await memory.getDocuments(userId, req.params.collection_id, {
      ids: req.body.ids,
      include_embeddings: true,
      limit: req.body.ids.length,
    });
    const byId = new Map(existing.map((d) => [d.id, d]));
    const records = req.body.ids.flatMap((id, i) => {
      const old = byId.get(id);
      if (!old) return [];
      const meta = req.body.metadatas?.[i];
      return [
        {
          id,
          content: req.body.documents?.[i] ?? old.content,
          metadata: meta ? cleanMetadata({ ...old.metadata, ...meta }) : old.metadata,
          embedding: req.body.embeddings?.[i] ?? old.embedding,
        },
      ];
    });
    if (records.length > 0) {
      await memory.addDocuments(embedContext(principalOf(req)), req.params.collection_id, records, {
        onExisting: 'replace',
        chunk: false,
      });
    }
    return {};
  });

  app.post(`${coll}/get`, { schema: { tags, params: CollParams, body: GetBody } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    const include = req.body.include ?? ['documents', 'metadatas'];
    const docs = await memory.getDocuments(principalOf(req).userId, req.params.collection_id, {
      ids: req.body.ids ?? undefined,
      where: req.body.where ?? undefined,
      where_document: req.body.where_document ?? undefined,
      limit: req.body.limit ?? undefined,
      offset: req.body.offset ?? undefined,
      include_embeddings: include.includes('embeddings'),
    });
    return columns(docs, include);
  });

  app.post(`${coll}/query`, { schema: { tags, params: CollParams, body: QueryBody } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    const include = req.body.include ?? ['documents', 'metadatas', 'distances'];
    const ctx = embedContext(principalOf(req));
    const out = {
      ids: [] as string[][],
      documents: include.includes('documents') ? ([] as string[][]) : null,
      metadatas: include.includes('metadatas') ? ([] as unknown[][]) : null,
      embeddings: include.includes('embeddings') ? ([] as unknown[][]) : null,
      distances: include.includes('distances') ? ([] as number[][]) : null,
      uris: null,
      include,
    };
    for (const embedding of req.body.query_embeddings) {
      const hits = await memory.query(ctx, req.params.collection_id, {
        embedding,
        mode: 'vector',
        top_k: req.body.n_results ?? 10,
        where: req.body.where ?? undefined,
        where_document: req.body.where_document ?? undefined,
        include_embeddings: include.includes('embeddings'),
        ids: req.body.ids ?? undefined,
      });
      const cols = columns(hits, include);
      out.ids.push(cols.ids);
      out.documents?.push(cols.documents!);
      out.metadatas?.push(cols.metadatas!);
      out.embeddings?.push(cols.embeddings!);
      out.distances?.push(hits.map((h) => 1 - h.score));
    }
    return out;
  });

  app.post(`${coll}/delete`, { schema: { tags, params: CollParams, body: DeleteBody } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    if (req.body.limit !== undefined && req.body.limit !== null) {
      throw invalid('limit', 'is not supported; delete by ids or by a filter');
    }
    const deleted = await memory.deleteDocuments(principalOf(req).userId, req.params.collection_id, {
      ids: req.body.ids ?? undefined,
      where: req.body.where ?? undefined,
      where_document: req.body.where_document ?? undefined,
    });
    return { deleted };
  });

  app.get(`${coll}/count`, { schema: { tags, params: CollParams } }, async (req) => {
    checkDb(req.params.tenant, req.params.database);
    return memory.count(principalOf(req).userId, req.params.collection_id);
  });
};
