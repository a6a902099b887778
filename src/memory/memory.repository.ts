import { sql, type Insertable, type RawBuilder, type Selectable } from 'kysely';
import { documentSql, isEmptyFilter, whereSql, type DocFilter } from './memory-filter.js';
import type { Dialect, DbOrTrx } from '../db/database.js';
import { AppError } from '../errors/index.js';
import type { MemoryCollectionsTable, MemoryDocumentsTable } from './memory.tables.js';
import type { VectorSource } from './vector-index.js';

export type CollectionRow = Selectable<MemoryCollectionsTable>;
export type DocumentRow = Selectable<MemoryDocumentsTable>;
export type NewDocumentRow = Omit<Insertable<MemoryDocumentsTable>, 'seq'> & { embedding: Buffer | null };

export interface DocumentSelect {
  ids?: string[] | undefined;
  filter?: DocFilter | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
  withEmbeddings?: boolean;
}

const INSERT_BATCH = 500;

export const toBlob = (v: Float32Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
export const fromBlob = (b: Buffer | Uint8Array): Float32Array => {
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return new Float32Array(copy.buffer, 0, b.byteLength / 4);
};

/** All SQL of memory. Every query is scoped by the owner, also for documents, whatever filter is given. */
export class MemoryRepository implements VectorSource {
  constructor(readonly dialect: Dialect) {}

  /** The filter as one SQL condition over `alias.metadata` / `alias.content`; always true when empty. */
  cond(filter: DocFilter | undefined, alias?: string): RawBuilder<boolean> {
    const parts: RawBuilder<boolean>[] = [];
    const col = (c: string) => (alias ? `${alias}.${c}` : c);
    if (filter?.where) parts.push(whereSql(filter.where, this.dialect, col('metadata')));
    if (filter?.document) parts.push(documentSql(filter.document, this.dialect, col('content')));
    if (filter?.ids) {
      parts.push(
        filter.ids.length === 0
          ? sql<boolean>`(1 = 0)`
          : sql<boolean>`(${sql.ref(col('doc_id'))} in (${sql.join(filter.ids)}))`,
      );
    }
    if (parts.length === 0) return sql<boolean>`(1 = 1)`;
    return sql<boolean>`(${sql.join(parts, sql` and `)})`;
  }

  async insertCollection(db: DbOrTrx, row: MemoryCollectionsTable): Promise<void> {
    await db.insertInto('memory_collections').values(row).execute();
  }

  /** By id or, failing that, by name. */
  async findCollection(db: DbOrTrx, ownerId: string, ref: string): Promise<CollectionRow | undefined> {
    const byId = await db
      .selectFrom('memory_collections')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('id', '=', ref)
      .executeTakeFirst();
    return (
      byId ??
      db
        .selectFrom('memory_collections')
        .selectAll()
        .where('owner_id', '=', ownerId)
        .where('name', '=', ref)
        .executeTakeFirst()
    );
  }

  async listCollections(
    db: DbOrTrx,
    ownerId: string,
    opts: { after?: { k: string; id: string } | undefined; limit: number; offset?: number },
  ): Promise<CollectionRow[]> {
    let q = db.selectFrom('memory_collections').selectAll().where('owner_id', '=', ownerId);
    const after = opts.after;
    if (after) {
      q = q.where((eb) =>
        eb.or([eb('name', '>', after.k), eb.and([eb('name', '=', after.k), eb('id', '>', after.id)])]),
      );
    }
    if (opts.offset) q = q.offset(opts.offset);
    return q.orderBy('name').orderBy('id').limit(opts.limit).execute();
  }

  async countCollections(db: DbOrTrx, ownerId: string): Promise<number> {
    const r = await db
      .selectFrom('memory_collections')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('owner_id', '=', ownerId)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async updateCollection(
    db: DbOrTrx,
    ownerId: string,
    id: string,
    patch: Partial<Pick<MemoryCollectionsTable, 'name' | 'description' | 'metadata' | 'dimensions' | 'updated_at'>>,
  ): Promise<void> {
    await db
      .updateTable('memory_collections')
      .set(patch)
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .execute();
  }

  async deleteCollection(db: DbOrTrx, ownerId: string, id: string): Promise<boolean> {
    // Documents first, so SQLite's FTS triggers see them go even where foreign keys are off.
    await db.deleteFrom('memory_documents').where('owner_id', '=', ownerId).where('collection_id', '=', id).execute();
    const r = await db
      .deleteFrom('memory_collections')
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Bumps the write version and returns the new one (the row is locked until the transaction ends). */
  async bumpVersion(db: DbOrTrx, ownerId: string, id: string): Promise<number> {
    const r = await db
      .updateTable('memory_collections')
      .set((eb) => ({ version: eb('version', '+', 1) }))
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .returning('version')
      .executeTakeFirstOrThrow();
    return Number(r.version);
  }

  async existingIds(db: DbOrTrx, ownerId: string, collectionId: string, ids: string[]): Promise<string[]> {
    const out = new Set<string>();
    // Two lookups rather than one OR, so each uses its index: (collection_id, doc_id) and (collection_id, source_id).
    for (let i = 0; i < ids.length; i += INSERT_BATCH) {
      const part = ids.slice(i, i + INSERT_BATCH);
      const whole = await db
        .selectFrom('memory_documents')
        .select('doc_id')
        .where('collection_id', '=', collectionId)
        .where('owner_id', '=', ownerId)
        .where('doc_id', 'in', part)
        .execute();
      for (const r of whole) out.add(r.doc_id);
      const chunked = await db
        .selectFrom('memory_documents')
        .select('source_id')
        .distinct()
        .where('collection_id', '=', collectionId)
        .where('owner_id', '=', ownerId)
        .where('source_id', 'in', part)
        .execute();
      for (const r of chunked) if (r.source_id) out.add(r.source_id);
    }
    return [...out];
  }

  async insertDocuments(db: DbOrTrx, rows: NewDocumentRow[]): Promise<{ seq: number; embedding: Buffer | null }[]> {
    const out: { seq: number; embedding: Buffer | null }[] = [];
    for (let i = 0; i < rows.length; i += INSERT_BATCH) {
      const batch = rows.slice(i, i + INSERT_BATCH);
      const inserted = await db.insertInto('memory_documents').values(batch).returning(['seq']).execute();
      inserted.forEach((r, j) => out.push({ seq: Number(r.seq), embedding: batch[j]!.embedding }));
    }
    return out;
  }

  /** Deletes documents by id (with the chunks cut from them) and/or by filter; returns the removed rows. */
  async deleteDocuments(
    db: DbOrTrx,
    ownerId: string,
    collectionId: string,
    sel: { ids?: string[] | undefined; filter?: DocFilter | undefined },
  ): Promise<number[]> {
    const seqs: number[] = [];
    const run = async (idColumn?: 'doc_id' | 'source_id', part?: string[]) => {
      let q = db
        .deleteFrom('memory_documents')
        .where('collection_id', '=', collectionId)
        .where('owner_id', '=', ownerId);
      if (idColumn && part) q = q.where(idColumn, 'in', part);
      if (!isEmptyFilter(sel.filter)) q = q.where(this.cond(sel.filter));
      for (const r of await q.returning('seq').execute()) seqs.push(Number(r.seq));
    };
    if (!sel.ids) {
      await run();
      return seqs;
    }
    for (let i = 0; i < sel.ids.length; i += INSERT_BATCH) {
      const part = sel.ids.slice(i, i + INSERT_BATCH);
      await run('doc_id', part);
      await run('source_id', part);
    }
    return seqs;
  }

  async findDocuments(db: DbOrTrx, ownerId: string, collectionId: string, sel: DocumentSelect): Promise<DocumentRow[]> {
    let q = db
      .selectFrom('memory_documents')
      .select([
        'seq',
        'collection_id',
        'owner_id',
        'doc_id',
        'source_id',
        'chunk_index',
        'content',
        'metadata',
        'created_at',
        'updated_at',
      ])
      .select(sel.withEmbeddings ? sql<Buffer | null>`embedding`.as('embedding') : sql<null>`null`.as('embedding'))
      .where('owner_id', '=', ownerId)
      .where('collection_id', '=', collectionId);
    if (sel.ids) {
      // Resolved through the two id indexes first: one OR over both columns makes SQLite scan the collection.
      const seqs = await this.seqsForIds(db, ownerId, collectionId, sel.ids);
      if (seqs.length === 0) return [];
      if (seqs.length > 30_000)
        throw new AppError('MEMORY_LIMIT_EXCEEDED', 'These ids match more than 30000 documents.');
      q = q.where('seq', 'in', seqs);
    }
    if (!isEmptyFilter(sel.filter)) q = q.where(this.cond(sel.filter));
    q = q.orderBy('seq');
    if (sel.limit !== undefined) q = q.limit(sel.limit);
    if (sel.offset) q = sel.limit === undefined ? q.limit(-1).offset(sel.offset) : q.offset(sel.offset);
    return (await q.execute()).map((r) => ({ ...r, seq: Number(r.seq) }));
  }

  private async seqsForIds(db: DbOrTrx, ownerId: string, collectionId: string, ids: string[]): Promise<number[]> {
    const out = new Set<number>();
    for (let i = 0; i < ids.length; i += INSERT_BATCH) {
      const part = ids.slice(i, i + INSERT_BATCH);
      for (const column of ['doc_id', 'source_id'] as const) {
        const rows = await db
          .selectFrom('memory_documents')
          .select('seq')
          .where('collection_id', '=', collectionId)
          .where('owner_id', '=', ownerId)
          .where(column, 'in', part)
          .execute();
        for (const r of rows) out.add(Number(r.seq));
      }
    }
    return [...out];
  }

  async documentsBySeq(db: DbOrTrx, ownerId: string, collectionId: string, seqs: number[]): Promise<DocumentRow[]> {
    if (seqs.length === 0) return [];
    const rows = await db
      .selectFrom('memory_documents')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('collection_id', '=', collectionId)
      .where('seq', 'in', seqs)
      .execute();
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }

  async countDocuments(db: DbOrTrx, ownerId: string, collectionId: string, filter?: DocFilter): Promise<number> {
    let q = db
      .selectFrom('memory_documents')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('owner_id', '=', ownerId)
      .where('collection_id', '=', collectionId);
    if (!isEmptyFilter(filter)) q = q.where(this.cond(filter));
    return Number((await q.executeTakeFirstOrThrow()).n);
  }

  async countByOwner(db: DbOrTrx, ownerId: string): Promise<Map<string, number>> {
    const rows = await db
      .selectFrom('memory_documents')
      .select(['collection_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('owner_id', '=', ownerId)
      .where('collection_id', 'in', (eb) =>
        eb.selectFrom('memory_collections').select('id').where('owner_id', '=', ownerId),
      )
      .groupBy('collection_id')
      .execute();
    return new Map(rows.map((r) => [r.collection_id, Number(r.n)]));
  }

  /**
   * Full-text search: FTS5 with BM25 on SQLite, `to_tsvector` with `ts_rank_cd` on PostgreSQL. The query is
   * rebuilt from plain word tokens (each quoted), so no user text reaches the match syntax; any word may match
   * and documents matching more of them rank higher.
   */
  async keywordSearch(
    db: DbOrTrx,
    ownerId: string,
    collectionId: string,
    tokens: string[],
    k: number,
    filter?: DocFilter,
  ): Promise<{ seq: number; score: number }[]> {
    if (tokens.length === 0 || k <= 0) return [];
    if (this.dialect === 'sqlite') {
      const match = tokens.map((t) => `"${t.replace(/"/g, '""')}"`).join(' OR ');
      let q = db
        .selectFrom(sql<{ rowid: number }>`memory_fts`.as('f'))
        .innerJoin('memory_documents as d', (j) => j.onRef('d.seq', '=', sql.ref('f.rowid')))
        .select(['d.seq', sql<number>`-bm25(memory_fts)`.as('score')])
        .where(sql<boolean>`memory_fts match ${match}`)
        .where('d.owner_id', '=', ownerId)
        .where('d.collection_id', '=', collectionId);
      if (!isEmptyFilter(filter)) q = q.where(this.cond(filter, 'd'));
      const rows = await q
        .orderBy(sql`bm25(memory_fts)`)
        .orderBy('d.seq')
        .limit(k)
        .execute();
      return rows.map((r) => ({ seq: Number(r.seq), score: Number(r.score) }));
    }
    const tsq = tokens.map((t) => t.replace(/[^\p{L}\p{N}]/gu, '')).filter(Boolean);
    if (tsq.length === 0) return [];
    const query = sql`to_tsquery('english', ${tsq.join(' | ')})`;
    const vector = sql`to_tsvector('english', d.content)`;
    let q = db
      .selectFrom('memory_documents as d')
      .select(['d.seq', sql<number>`ts_rank_cd(${vector}, ${query})`.as('score')])
      .where(sql<boolean>`${vector} @@ ${query}`)
      .where('d.owner_id', '=', ownerId)
      .where('d.collection_id', '=', collectionId);
    if (!isEmptyFilter(filter)) q = q.where(this.cond(filter, 'd'));
    const rows = await q.orderBy('score', 'desc').orderBy('d.seq').limit(k).execute();
    return rows.map((r) => ({ seq: Number(r.seq), score: Number(r.score) }));
  }

  async loadVectors(
    db: DbOrTrx,
    ownerId: string,
    collectionId: string,
    filter?: DocFilter,
  ): Promise<{ version: number; rows: { seq: number; embedding: Float32Array }[] }> {
    // Version first: rows read after it are at least that new, so a cache labelled with it is never ahead.
    const coll = await db
      .selectFrom('memory_collections')
      .select('version')
      .where('owner_id', '=', ownerId)
      .where('id', '=', collectionId)
      .executeTakeFirst();
    if (!coll) return { version: -1, rows: [] };
    let q = db
      .selectFrom('memory_documents')
      .select(['seq', 'embedding'])
      .where('owner_id', '=', ownerId)
      .where('collection_id', '=', collectionId)
      .where('embedding', 'is not', null);
    if (!isEmptyFilter(filter)) q = q.where(this.cond(filter));
    const rows = await q.orderBy('seq').execute();
    return {
      version: Number(coll.version),
      rows: rows.map((r) => ({ seq: Number(r.seq), embedding: fromBlob(r.embedding!) })),
    };
  }

  async matchingSeqs(db: DbOrTrx, ownerId: string, collectionId: string, filter: DocFilter): Promise<number[]> {
    const rows = await db
      .selectFrom('memory_documents')
      .select('seq')
      .where('owner_id', '=', ownerId)
      .where('collection_id', '=', collectionId)
      .where(this.cond(filter))
      .execute();
    return rows.map((r) => Number(r.seq));
  }
}
