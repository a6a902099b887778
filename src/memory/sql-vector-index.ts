import type { DbOrTrx } from '../db/database.js';
import { normalize } from './embedder.js';
import { TopK } from './top-k.js';
import type { VectorHit, VectorIndex, VectorQuery, VectorSource } from './vector-index.js';

/**
 * Keeps nothing between queries: every search reads the matching vectors from the database and scans them.
 * Slower than the in-process cache, but never stale and holds no memory, for nodes that share a PostgreSQL
 * database under heavy concurrent writes (`memory_vector_index: sql`).
 */
export class SqlVectorIndex implements VectorIndex {
  readonly name = 'sql';

  constructor(private readonly source: VectorSource) {}

  async search(db: DbOrTrx, q: VectorQuery): Promise<VectorHit[]> {
    const { rows } = await this.source.loadVectors(db, q.ownerId, q.collectionId, q.filter);
    const top = new TopK(Math.min(q.k, rows.length));
    for (let i = 0; i < rows.length; i++) {
      const e = rows[i]!.embedding;
      if (e.length !== q.vector.length) continue;
      const unit = normalize(e);
      let s = 0;
      for (let j = 0; j < unit.length; j++) s += unit[j]! * q.vector[j]!;
      top.push(i, s);
    }
    return top.entries().map((e) => ({ seq: rows[e.key]!.seq, score: e.score }));
  }

  applied(): void {}

  forget(): void {}
}
