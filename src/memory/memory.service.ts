import { randomUUID } from 'node:crypto';
import type { Db } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import { nowIso } from '../db/time.js';
import { AppError, invalid } from '../errors/index.js';
import { decodeCursor, toPage } from '../http/pagination.js';
import { chunkByTokens } from '../llm/context-manager.js';
import { countTokens } from '../llm/tokens.js';
import type { EmbedContext, Embedder } from './embedder.js';
import { normalize } from './embedder.js';
import { LexicalEmbedder, lexicalTokens } from './lexical-embedder.js';
import { parseMetadata, parseWhere, parseWhereDocument, type DocFilter, type Metadata } from './memory-filter.js';
import {
  fromBlob,
  toBlob,
  type CollectionRow,
  type DocumentRow,
  type MemoryRepository,
  type NewDocumentRow,
} from './memory.repository.js';
import type {
  Collection,
  CreateCollectionInput,
  EmbedderKind,
  MemoryDocument,
  SearchHit,
  SearchMode,
  UpdateCollectionInput,
} from './memory.js';
import { ProviderEmbedder, type EmbeddingsApi } from './provider-embedder.js';
import type { VectorIndex } from './vector-index.js';

export interface MemoryDefaults {
  /** Dimensions of the lexical embedder when a collection does not say. */
  lexicalDimensions: number;
  chunkSize: number;
  chunkOverlap: number;
  /** Embedding model for `provider` collections that name none. */
  embeddingModel?: string | undefined;
  maxDocumentsPerRequest: number;
}

export interface DocumentInput {
  id?: string | undefined;
  content: string;
  metadata?: unknown;
  embedding?: number[] | undefined;
}

/** What `add` does with an id already in the collection. */
export type OnExisting = 'error' | 'skip' | 'replace';

export interface QueryInput {
  query?: string | undefined;
  embedding?: number[] | undefined;
  mode?: SearchMode | undefined;
  top_k?: number | undefined;
  where?: unknown;
  where_document?: unknown;
  include_embeddings?: boolean | undefined;
  /** Only these document ids qualify. */
  ids?: string[] | undefined;
}

/** Reciprocal-rank-fusion constant from Cormack et al.: dampens the weight of the very first ranks. */
const RRF_K = 60;
const MAX_QUERY_TOKENS = 64;

/**
 * Collections and documents of vector memory, scoped to their owner: every read and write names the owner,
 * so no id or filter a user sends can reach another user's documents.
 */
export class MemoryService {
  constructor(
    private readonly db: Db,
    private readonly repo: MemoryRepository,
    readonly index: VectorIndex,
    private readonly defaults: MemoryDefaults,
    /** The LLM layer's embeddings, when it is wired; read on each call so it can arrive after construction. */
    private readonly llm: () => EmbeddingsApi | undefined,
  ) {}

  // ---- collections ----

  async createCollection(
    userId: string,
    input: CreateCollectionInput,
    opts: { getOrCreate?: boolean } = {},
  ): Promise<{ collection: Collection; created: boolean }> {
    const existing = await this.repo.findCollection(this.db, userId, input.name);
    if (existing && existing.name === input.name) {
      if (opts.getOrCreate) return { collection: await this.toCollection(existing), created: false };
      throw new AppError('MEMORY_COLLECTION_EXISTS', undefined, { name: input.name });
    }
    const embedder: EmbedderKind = input.embedding?.embedder ?? 'lexical';
    let dimensions = input.embedding?.dimensions ?? null;
    let model = input.embedding?.model ?? null;
    if (embedder === 'lexical') {
      dimensions ??= this.defaults.lexicalDimensions;
      if (dimensions < 16) throw invalid('/embedding/dimensions', 'must be at least 16 for the lexical embedder');
      model = null;
    }
    if (embedder === 'provider') {
      model ??= this.defaults.embeddingModel ?? null;
      if (!model) throw invalid('/embedding/model', 'is required for provider embeddings');
    }
    const chunking = input.chunking ?? { size: this.defaults.chunkSize, overlap: this.defaults.chunkOverlap };
    if (chunking.overlap >= chunking.size) throw invalid('/chunking/overlap', 'must be smaller than the chunk size');
    const now = nowIso();
    const row: CollectionRow = {
      id: randomUUID(),
      owner_id: userId,
      name: input.name,
      description: input.description ?? '',
      metadata: toJson(parseMetadata(input.metadata, '/metadata')),
      embedder,
      model,
      dimensions,
      chunk_size: chunking.size,
      chunk_overlap: chunking.overlap,
      version: 0,
      created_at: now,
      updated_at: now,
    };
    try {
      await this.repo.insertCollection(this.db, row);
    } catch (err) {
      // Two creates raced; the unique (owner, name) constraint decided.
      const again = await this.repo.findCollection(this.db, userId, input.name);
      if (!again) throw err;
      if (opts.getOrCreate) return { collection: await this.toCollection(again), created: false };
      throw new AppError('MEMORY_COLLECTION_EXISTS', undefined, { name: input.name });
    }
    return { collection: await this.toCollection(row, 0), created: true };
  }

  async listCollections(userId: string, opts: { limit: number; cursor?: string | undefined; offset?: number }) {
    const after = decodeCursor(opts.cursor);
    const rows = await this.repo.listCollections(this.db, userId, {
      after: after ? { k: String(after.k), id: after.id } : undefined,
      limit: opts.limit + 1,
      ...(opts.offset ? { offset: opts.offset } : {}),
    });
    const counts = await this.repo.countByOwner(this.db, userId);
    const page = toPage(rows, opts.limit, (r) => ({ k: r.name, id: r.id }));
    return {
      items: await Promise.all(page.items.map((r) => this.toCollection(r, counts.get(r.id) ?? 0))),
      next_cursor: page.next_cursor,
    };
  }

  countCollections(userId: string): Promise<number> {
    return this.repo.countCollections(this.db, userId);
  }

  async getCollection(userId: string, ref: string): Promise<Collection> {
    return this.toCollection(await this.row(userId, ref));
  }

  async updateCollection(userId: string, ref: string, input: UpdateCollectionInput): Promise<Collection> {
    const row = await this.row(userId, ref);
    if (input.name && input.name !== row.name) {
      const clash = await this.repo.findCollection(this.db, userId, input.name);
      if (clash && clash.id !== row.id) throw new AppError('MEMORY_COLLECTION_EXISTS', undefined, { name: input.name });
    }
    await this.repo.updateCollection(this.db, userId, row.id, {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.metadata !== undefined ? { metadata: toJson(parseMetadata(input.metadata, '/metadata')) } : {}),
      updated_at: nowIso(),
    });
    return this.getCollection(userId, row.id);
  }

  async deleteCollection(userId: string, ref: string): Promise<void> {
    const row = await this.row(userId, ref);
    await this.db.transaction().execute((trx) => this.repo.deleteCollection(trx, userId, row.id));
    this.index.forget(row.id);
  }

  // ---- documents ----

  async addDocuments(
    ctx: EmbedContext,
    ref: string,
    docs: DocumentInput[],
    opts: { onExisting: OnExisting; chunk?: boolean },
  ): Promise<{ ids: string[]; chunks: number; skipped: string[] }> {
    const coll = await this.row(ctx.userId, ref);
    if (docs.length > this.defaults.maxDocumentsPerRequest) {
      throw new AppError(
        'MEMORY_LIMIT_EXCEEDED',
        `At most ${this.defaults.maxDocumentsPerRequest} documents per request.`,
      );
    }
    const now = nowIso();
    const seen = new Set<string>();
    const prepared = docs.map((d, i) => {
      const id = d.id ?? randomUUID();
      if (seen.has(id)) throw invalid(`/documents/${i}/id`, 'appears twice in this request');
      seen.add(id);
      if (typeof d.content !== 'string') throw invalid(`/documents/${i}/content`, 'must be a string');
      const metadata = parseMetadata(d.metadata, `/documents/${i}/metadata`);
      const given = d.embedding ? checkVector(d.embedding, `/documents/${i}/embedding`) : undefined;
      const pieces =
        opts.chunk !== false && !given && countTokens(d.content) > coll.chunk_size
          ? // Stored chunks drop the white space a cut leaves at their edges.
            chunkByTokens(d.content, { maxTokens: coll.chunk_size, overlap: coll.chunk_overlap })
              .map((c) => c.trim())
              .filter(Boolean)
          : [d.content];
      return { id, metadata, given, pieces };
    });

    let ids = prepared.map((p) => p.id);
    let skipped: string[] = [];
    if (opts.onExisting !== 'replace') {
      const existing = await this.repo.existingIds(this.db, ctx.userId, coll.id, ids);
      if (existing.length > 0 && opts.onExisting === 'error') {
        throw new AppError('MEMORY_DOCUMENT_EXISTS', undefined, { ids: existing.slice(0, 20) });
      }
      skipped = existing;
      const skip = new Set(existing);
      ids = ids.filter((id) => !skip.has(id));
    }
    const keep = new Set(ids);
    const todo = prepared.filter((p) => keep.has(p.id));

    // Embed outside the transaction: a provider call can take seconds.
    const embedder = this.embedderFor(coll);
    const texts: string[] = [];
    for (const p of todo) if (!p.given) texts.push(...p.pieces);
    if (texts.length > 0 && !embedder) {
      throw new AppError('MEMORY_EMBEDDING_REQUIRED', undefined, { collection: coll.name });
    }
    const computed = texts.length > 0 ? await this.embed(embedder!, texts, ctx) : [];
    const rows: NewDocumentRow[] = [];
    let next = 0;
    let dims = coll.dimensions;
    for (const p of todo) {
      p.pieces.forEach((content, i) => {
        const vector = p.given ?? computed[next++]!;
        if (dims === null) dims = vector.length;
        if (vector.length !== dims) {
          throw new AppError('MEMORY_DIMENSION_MISMATCH', undefined, { expected: dims, got: vector.length, id: p.id });
        }
        const chunked = p.pieces.length > 1;
        rows.push({
          collection_id: coll.id,
          owner_id: ctx.userId,
          doc_id: chunked ? `${p.id}#${i}` : p.id,
          source_id: chunked ? p.id : null,
          chunk_index: chunked ? i : null,
          content,
          metadata: toJson(p.metadata),
          embedding: toBlob(vector),
          created_at: now,
          updated_at: now,
        });
      });
    }
    if (rows.length === 0) return { ids: [], chunks: 0, skipped };

    const { removed, inserted, version } = await this.db.transaction().execute(async (trx) => {
      const removed =
        opts.onExisting === 'replace' ? await this.repo.deleteDocuments(trx, ctx.userId, coll.id, { ids }) : [];
      const inserted = await this.repo.insertDocuments(trx, rows);
      if (coll.dimensions === null) await this.repo.updateCollection(trx, ctx.userId, coll.id, { dimensions: dims });
      const version = await this.repo.bumpVersion(trx, ctx.userId, coll.id);
      return { removed, inserted, version };
    });
    this.index.applied(coll.id, version - 1, version, {
      removed,
      upserted: inserted.map((r) => ({ seq: r.seq, embedding: fromBlob(r.embedding!) })),
    });
    return { ids, chunks: rows.length, skipped };
  }

  async getDocuments(
    userId: string,
    ref: string,
    sel: {
      ids?: string[] | undefined;
      where?: unknown;
      where_document?: unknown;
      limit?: number | undefined;
      offset?: number | undefined;
      include_embeddings?: boolean | undefined;
    },
  ): Promise<MemoryDocument[]> {
    const coll = await this.row(userId, ref);
    const rows = await this.repo.findDocuments(this.db, userId, coll.id, {
      ids: sel.ids,
      filter: filterOf(sel),
      limit: sel.limit ?? 1000,
      offset: sel.offset,
      withEmbeddings: sel.include_embeddings === true,
    });
    return rows.map((r) => toDocument(r, sel.include_embeddings === true));
  }

  async deleteDocuments(
    userId: string,
    ref: string,
    sel: { ids?: string[] | undefined; where?: unknown; where_document?: unknown },
  ): Promise<number> {
    const coll = await this.row(userId, ref);
    const filter = filterOf(sel);
    if (!sel.ids && !filter.where && !filter.document) {
      throw invalid('ids', 'give ids, where or where_document (deleting everything needs an explicit filter)');
    }
    const { removed, version } = await this.db.transaction().execute(async (trx) => {
      const removed = await this.repo.deleteDocuments(trx, userId, coll.id, { ids: sel.ids, filter });
      const version = removed.length > 0 ? await this.repo.bumpVersion(trx, userId, coll.id) : coll.version;
      return { removed, version };
    });
    if (removed.length > 0) this.index.applied(coll.id, version - 1, version, { removed, upserted: [] });
    return removed.length;
  }

  async count(userId: string, ref: string): Promise<number> {
    const coll = await this.row(userId, ref);
    return this.repo.countDocuments(this.db, userId, coll.id);
  }

  // ---- search ----

  async query(ctx: EmbedContext, ref: string, q: QueryInput): Promise<SearchHit[]> {
    const coll = await this.row(ctx.userId, ref);
    return this.queryRow(ctx, coll, q);
  }

  /** Searches several collections (an agent's memory) and merges by rank; unknown refs are skipped. */
  async queryMany(ctx: EmbedContext, refs: string[], q: QueryInput): Promise<SearchHit[]> {
    const k = q.top_k ?? 5;
    const lists: SearchHit[][] = [];
    for (const ref of refs) {
      const coll = await this.repo.findCollection(this.db, ctx.userId, ref);
      if (!coll) continue;
      const hits = await this.queryRow(ctx, coll, { ...q, top_k: k });
      lists.push(hits.map((h) => ({ ...h, collection_id: coll.id })));
    }
    if (lists.length <= 1) return lists[0] ?? [];
    const fused = new Map<string, { hit: SearchHit; score: number }>();
    for (const list of lists) {
      list.forEach((hit, rank) => {
        const key = `${hit.collection_id}/${hit.id}`;
        const prev = fused.get(key);
        fused.set(key, { hit, score: (prev?.score ?? 0) + 1 / (RRF_K + rank + 1) });
      });
    }
    return [...fused.values()]
      .sort((a, b) => b.score - a.score)
      .slice(0, k)
      .map((f) => ({ ...f.hit, score: f.score }));
  }

  private async queryRow(ctx: EmbedContext, coll: CollectionRow, q: QueryInput): Promise<SearchHit[]> {
    const k = q.top_k ?? 10;
    const filter: DocFilter = { ...filterOf(q), ...(q.ids ? { ids: q.ids } : {}) };
    const mode: SearchMode = q.mode ?? (q.query === undefined ? 'vector' : 'hybrid');
    if ((mode === 'keyword' || mode === 'hybrid') && q.query === undefined) {
      throw invalid('query', `is required for ${mode} search`);
    }
    if (mode === 'vector' && q.query === undefined && q.embedding === undefined) {
      throw invalid('query', 'give query text or an embedding');
    }
    const wide = mode === 'hybrid' ? Math.max(k * 4, 50) : k;
    let keyword: { seq: number; score: number }[] = [];
    let vector: { seq: number; score: number }[] = [];
    if (mode !== 'vector') {
      const tokens = [...new Set(lexicalTokens(q.query!))].slice(0, MAX_QUERY_TOKENS);
      keyword = await this.repo.keywordSearch(this.db, ctx.userId, coll.id, tokens, wide, filter);
    }
    if (mode !== 'keyword') {
      const v = await this.queryVector(ctx, coll, q);
      if (v) {
        vector = await this.index.search(this.db, {
          ownerId: ctx.userId,
          collectionId: coll.id,
          version: coll.version,
          vector: v,
          k: wide,
          filter,
        });
      } else if (mode === 'vector') {
        throw new AppError('MEMORY_EMBEDDING_REQUIRED', undefined, { collection: coll.name });
      }
    }
    let ranked: { seq: number; score: number }[];
    if (mode === 'keyword') ranked = keyword;
    else if (mode === 'vector') ranked = vector;
    else {
      const scores = new Map<number, number>();
      const fuse = (list: { seq: number }[]) =>
        list.forEach((h, rank) => scores.set(h.seq, (scores.get(h.seq) ?? 0) + 1 / (RRF_K + rank + 1)));
      fuse(keyword);
      fuse(vector);
      ranked = [...scores.entries()]
        .map(([seq, score]) => ({ seq, score }))
        .sort((a, b) => b.score - a.score || a.seq - b.seq)
        .slice(0, k);
    }
    const rows = await this.repo.documentsBySeq(
      this.db,
      ctx.userId,
      coll.id,
      ranked.map((r) => r.seq),
    );
    const bySeq = new Map(rows.map((r) => [r.seq, r]));
    const hits: SearchHit[] = [];
    for (const r of ranked) {
      const row = bySeq.get(r.seq);
      if (row) hits.push({ ...toDocument(row, q.include_embeddings === true), score: r.score });
    }
    return hits;
  }

  /** The query as a unit vector: the one given, or the query text through the collection's embedder. */
  private async queryVector(ctx: EmbedContext, coll: CollectionRow, q: QueryInput): Promise<Float32Array | undefined> {
    if (q.embedding) {
      const v = checkVector(q.embedding, 'embedding');
      if (coll.dimensions !== null && v.length !== coll.dimensions) {
        throw new AppError('MEMORY_DIMENSION_MISMATCH', undefined, { expected: coll.dimensions, got: v.length });
      }
      return normalize(v);
    }
    const embedder = this.embedderFor(coll);
    if (!embedder || q.query === undefined) return undefined;
    const [v] = await this.embed(embedder, [q.query], ctx);
    return normalize(v!);
  }

  // ---- helpers ----

  private async row(userId: string, ref: string): Promise<CollectionRow> {
    const row = await this.repo.findCollection(this.db, userId, ref);
    if (!row) throw new AppError('MEMORY_COLLECTION_NOT_FOUND', undefined, { collection: ref });
    return row;
  }

  /** The embedder a collection names, or undefined when its documents come with their own vectors. */
  embedderFor(coll: Pick<CollectionRow, 'embedder' | 'model' | 'dimensions'>): Embedder | undefined {
    if (coll.embedder === 'lexical') return new LexicalEmbedder(coll.dimensions ?? this.defaults.lexicalDimensions);
    if (coll.embedder === 'provider') {
      const llm = this.llm();
      if (!llm) throw new AppError('MEMORY_EMBEDDER_UNAVAILABLE');
      return new ProviderEmbedder(llm, coll.model ?? this.defaults.embeddingModel ?? '');
    }
    return undefined;
  }

  private async embed(embedder: Embedder, texts: string[], ctx: EmbedContext): Promise<Float32Array[]> {
    const out = await embedder.embed(texts, ctx);
    if (out.length !== texts.length || out.some((v) => v.length === 0 || v.some((x) => !Number.isFinite(x)))) {
      throw new AppError('MEMORY_EMBEDDING_FAILED', 'The embedder returned missing or non-finite vectors.');
    }
    return out;
  }

  private async toCollection(row: CollectionRow, count?: number): Promise<Collection> {
    const n = count ?? (await this.repo.countDocuments(this.db, row.owner_id, row.id));
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      metadata: fromJson<Metadata>(row.metadata, {}),
      embedding: {
        embedder: row.embedder as EmbedderKind,
        model: row.model,
        dimensions: row.dimensions === null ? null : Number(row.dimensions),
        semantic: row.embedder === 'provider',
      },
      chunking: { size: Number(row.chunk_size), overlap: Number(row.chunk_overlap) },
      document_count: n,
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }

  /** Every collection of the user (or the named ones) with all documents and embeddings, for export. */
  async exportRows(
    userId: string,
    refs?: string[],
  ): Promise<{ collection: CollectionRow; documents: DocumentRow[] }[]> {
    const rows = refs
      ? await Promise.all(refs.map((r) => this.row(userId, r)))
      : await this.repo.listCollections(this.db, userId, { limit: 1_000_000 });
    const out: { collection: CollectionRow; documents: DocumentRow[] }[] = [];
    for (const collection of rows) {
      const documents = await this.repo.findDocuments(this.db, userId, collection.id, { withEmbeddings: true });
      out.push({ collection, documents });
    }
    return out;
  }

  /**
   * Stores an exported collection for this user, keeping its vectors (no re-embedding). An existing collection
   * of the same name is an error unless `replace`, which swaps it in one transaction.
   */
  async importCollection(
    userId: string,
    c: Pick<
      CollectionRow,
      'name' | 'description' | 'metadata' | 'embedder' | 'model' | 'dimensions' | 'chunk_size' | 'chunk_overlap'
    >,
    docs: Pick<DocumentRow, 'doc_id' | 'source_id' | 'chunk_index' | 'content' | 'metadata' | 'embedding'>[],
    replace: boolean,
  ): Promise<{ id: string; documents: number }> {
    const existing = await this.repo.findCollection(this.db, userId, c.name);
    if (existing && existing.name === c.name && !replace) {
      throw new AppError('MEMORY_COLLECTION_EXISTS', undefined, { name: c.name });
    }
    const now = nowIso();
    const id = randomUUID();
    await this.db.transaction().execute(async (trx) => {
      if (existing && existing.name === c.name) await this.repo.deleteCollection(trx, userId, existing.id);
      await this.repo.insertCollection(trx, {
        ...c,
        id,
        owner_id: userId,
        version: 0,
        created_at: now,
        updated_at: now,
      });
      await this.repo.insertDocuments(
        trx,
        docs.map((d) => ({ ...d, collection_id: id, owner_id: userId, created_at: now, updated_at: now })),
      );
    });
    if (existing) this.index.forget(existing.id);
    return { id, documents: docs.length };
  }

  /** Internal access for export, Chroma and agent search, still scoped by owner. */
  collectionRow(userId: string, ref: string): Promise<CollectionRow> {
    return this.row(userId, ref);
  }
}

export function filterOf(sel: { where?: unknown; where_document?: unknown }): DocFilter {
  return { where: parseWhere(sel.where), document: parseWhereDocument(sel.where_document) };
}

function checkVector(v: number[], field: string): Float32Array {
  if (!Array.isArray(v) || v.length === 0 || v.length > 8192) throw invalid(field, 'must be 1 to 8192 numbers');
  if (!v.every((x) => typeof x === 'number' && Number.isFinite(x)))
    throw invalid(field, 'must contain only finite numbers');
  return Float32Array.from(v);
}

export function toDocument(r: DocumentRow, withEmbedding: boolean): MemoryDocument {
  return {
    id: r.doc_id,
    source_id: r.source_id,
    chunk_index: r.chunk_index === null ? null : Number(r.chunk_index),
    content: r.content,
    metadata: fromJson<Metadata>(r.metadata, {}),
    ...(withEmbedding && r.embedding ? { embedding: Array.from(fromBlob(r.embedding)) } : {}),
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}
