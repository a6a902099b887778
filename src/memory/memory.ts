import { Type, type Static } from 'typebox';
import { Nullable, PageQuery, StrictObject, Timestamp } from '../http/schemas.js';

export const EMBEDDERS = ['lexical', 'provider', 'none'] as const;
export type EmbedderKind = (typeof EMBEDDERS)[number];

/**
 * Metadata values are strings, numbers or booleans. The schema accepts any value and memory-filter.ts checks
 * them, because the server's ajv coerces types and would turn the number 1 into the string "1".
 */
export const MetadataSchema = Type.Record(Type.String(), Type.Unknown(), {
  description: 'string, number or boolean values',
});
/** Filters are validated by memory-filter.ts, which names the offending path. */
const FilterSchema = Type.Record(Type.String(), Type.Any());

export interface Collection {
  id: string;
  name: string;
  description: string;
  metadata: Record<string, string | number | boolean>;
  embedding: { embedder: EmbedderKind; model: string | null; dimensions: number | null; semantic: boolean };
  chunking: { size: number; overlap: number };
  document_count?: number;
  created_at: string;
  updated_at: string;
}

export const CollectionSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  metadata: MetadataSchema,
  embedding: Type.Object({
    embedder: Type.String(),
    model: Nullable(Type.String()),
    dimensions: Nullable(Type.Integer()),
    semantic: Type.Boolean({ description: 'false for the lexical embedder: it matches shared words, not meaning' }),
  }),
  chunking: Type.Object({ size: Type.Integer(), overlap: Type.Integer() }),
  document_count: Type.Optional(Type.Integer()),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const CollectionName = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });

export const CreateCollectionBody = StrictObject({
  name: CollectionName,
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  metadata: Type.Optional(MetadataSchema),
  embedding: Type.Optional(
    StrictObject({
      embedder: Type.Union([Type.Literal('lexical'), Type.Literal('provider'), Type.Literal('none')]),
      model: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      dimensions: Type.Optional(Type.Integer({ minimum: 1, maximum: 8192 })),
    }),
  ),
  chunking: Type.Optional(
    StrictObject({
      size: Type.Integer({ minimum: 16, maximum: 8192 }),
      overlap: Type.Integer({ minimum: 0, maximum: 4096 }),
    }),
  ),
});
export type CreateCollectionInput = Static<typeof CreateCollectionBody>;

export const UpdateCollectionBody = StrictObject({
  name: Type.Optional(CollectionName),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  metadata: Type.Optional(MetadataSchema),
});
export type UpdateCollectionInput = Static<typeof UpdateCollectionBody>;

export const CollectionListQuery = StrictObject({ ...PageQuery });

export const DocumentInput = StrictObject({
  id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  content: Type.String({ maxLength: 1_000_000 }),
  metadata: Type.Optional(MetadataSchema),
  embedding: Type.Optional(Type.Array(Type.Number(), { minItems: 1, maxItems: 8192 })),
});
export type DocumentInputT = Static<typeof DocumentInput>;

export const AddDocumentsBody = StrictObject({
  documents: Type.Array(DocumentInput, { minItems: 1, maxItems: 1000 }),
  /** Split documents longer than the collection's chunk size (default true). */
  chunk: Type.Optional(Type.Boolean()),
});

export interface MemoryDocument {
  id: string;
  source_id: string | null;
  chunk_index: number | null;
  content: string;
  metadata: Record<string, string | number | boolean>;
  embedding?: number[];
  created_at: string;
  updated_at: string;
}

export const DocumentSchema = Type.Object({
  id: Type.String(),
  source_id: Nullable(Type.String({ description: 'the document this chunk was cut from' })),
  chunk_index: Nullable(Type.Integer()),
  content: Type.String(),
  metadata: MetadataSchema,
  embedding: Type.Optional(Type.Array(Type.Number())),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const GetDocumentsBody = StrictObject({
  ids: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 1000 })),
  where: Type.Optional(FilterSchema),
  where_document: Type.Optional(FilterSchema),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
  include_embeddings: Type.Optional(Type.Boolean()),
});

export const DeleteDocumentsBody = StrictObject({
  ids: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 10000 })),
  where: Type.Optional(FilterSchema),
  where_document: Type.Optional(FilterSchema),
});

export const SEARCH_MODES = ['keyword', 'vector', 'hybrid'] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];

export const QueryBody = StrictObject({
  query: Type.Optional(Type.String({ minLength: 1, maxLength: 20_000 })),
  embedding: Type.Optional(Type.Array(Type.Number(), { minItems: 1, maxItems: 8192 })),
  mode: Type.Optional(Type.Union([Type.Literal('keyword'), Type.Literal('vector'), Type.Literal('hybrid')])),
  top_k: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  where: Type.Optional(FilterSchema),
  where_document: Type.Optional(FilterSchema),
  include_embeddings: Type.Optional(Type.Boolean()),
});

export interface SearchHit extends MemoryDocument {
  /** Higher is better: cosine similarity (vector), BM25/ts_rank (keyword), reciprocal-rank fusion (hybrid). */
  score: number;
  collection_id?: string;
}

export const SearchHitSchema = Type.Object({
  ...DocumentSchema.properties,
  score: Type.Number(),
  collection_id: Type.Optional(Type.String()),
});
