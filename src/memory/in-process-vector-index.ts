import type { DbOrTrx } from '../db/database.js';
import { SingleFlight } from '../single-flight.js';
import { isEmptyFilter } from './memory-filter.js';
import { TopK } from './top-k.js';
import type { VectorChange, VectorHit, VectorIndex, VectorQuery, VectorSource } from './vector-index.js';

interface Slab {
  collectionId: string;
  version: number;
  dims: number;
  count: number;
  seqs: Float64Array;
  /** `count * dims` unit vectors, row after row. */
  vectors: Float32Array;
  position: Map<number, number>;
}

/**
 * Keeps each collection's vectors in one contiguous Float32Array, loaded on first search and patched on
 * writes. A collection whose stored version moved past the cached one (another node wrote) is reloaded,
 * so the cache is never trusted beyond what the database says.
 */
export class InProcessVectorIndex implements VectorIndex {
  readonly name = 'memory';
  private readonly slabs = new Map<string, Slab>();
  private readonly loading = new SingleFlight<string, Slab>();

  constructor(private readonly source: VectorSource) {}

  async search(db: DbOrTrx, q: VectorQuery): Promise<VectorHit[]> {
    const slab = await this.slab(db, q);
    if (slab.count === 0 || q.k <= 0) return [];
    const allowed = !isEmptyFilter(q.filter)
      ? new Set(await this.source.matchingSeqs(db, q.ownerId, q.collectionId, q.filter!))
      : undefined;
    if (allowed && allowed.size === 0) return [];
    if (q.vector.length !== slab.dims) return [];
    const top = new TopK(Math.min(q.k, slab.count));
    const { vectors, seqs, dims, count } = slab;
    const v = q.vector;
    for (let i = 0, off = 0; i < count; i++, off += dims) {
      if (allowed && !allowed.has(seqs[i]!)) continue;
      let s = 0;
      for (let j = 0; j < dims; j++) s += vectors[off + j]! * v[j]!;
      if (s > top.threshold || top.size < top.k) top.push(i, s);
    }
    return top.entries().map((e) => ({ seq: seqs[e.key]!, score: e.score }));
  }

  applied(collectionId: string, fromVersion: number, toVersion: number, change: VectorChange): void {
    for (const [key, slab] of this.slabs)
      if (slab.collectionId === collectionId) this.patch(key, slab, fromVersion, toVersion, change);
  }

  private patch(key: string, slab: Slab, fromVersion: number, toVersion: number, change: VectorChange): void {
    if (slab.version !== fromVersion) {
      this.slabs.delete(key);
      return;
    }
    for (const seq of change.removed) remove(slab, seq);
    for (const row of change.upserted) {
      // A first vector (or a new size) changes the slab's layout: cheaper to reload it on the next search.
      if (row.embedding.length !== slab.dims) {
        this.slabs.delete(key);
        return;
      }
      put(slab, row.seq, row.embedding);
    }
    slab.version = toVersion;
  }

  forget(collectionId: string): void {
    for (const [key, slab] of this.slabs) if (slab.collectionId === collectionId) this.slabs.delete(key);
  }

  private async slab(db: DbOrTrx, q: VectorQuery): Promise<Slab> {
    // Keyed by owner too: a cached collection is never served to a query made as someone else.
    const key = `${q.ownerId}\u0000${q.collectionId}`;
    const cached = this.slabs.get(key);
    if (cached && cached.version === q.version) return cached;
    return this.loading.run(key, () => this.load(db, key, q.ownerId, q.collectionId));
  }

  private async load(db: DbOrTrx, key: string, ownerId: string, collectionId: string): Promise<Slab> {
    const { version, rows } = await this.source.loadVectors(db, ownerId, collectionId);
    const dims = rows[0]?.embedding.length ?? 0;
    const slab: Slab = {
      collectionId,
      version,
      dims,
      count: 0,
      seqs: new Float64Array(Math.max(16, rows.length)),
      vectors: new Float32Array(Math.max(16, rows.length) * dims),
      position: new Map(),
    };
    for (const row of rows) if (row.embedding.length === dims) put(slab, row.seq, row.embedding);
    // A collection that is not this owner's loads as empty and is not kept.
    if (version >= 0) this.slabs.set(key, slab);
    return slab;
  }
}

function put(slab: Slab, seq: number, embedding: Float32Array): void {
  let at = slab.position.get(seq);
  if (at === undefined) {
    if (slab.count === slab.seqs.length) grow(slab);
    at = slab.count++;
    slab.position.set(seq, at);
    slab.seqs[at] = seq;
  }
  // Written straight into the slab as a unit vector: no intermediate copy per row.
  let sum = 0;
  for (let j = 0; j < embedding.length; j++) sum += embedding[j]! * embedding[j]!;
  const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  const off = at * slab.dims;
  for (let j = 0; j < embedding.length; j++) slab.vectors[off + j] = embedding[j]! * inv;
}

function remove(slab: Slab, seq: number): void {
  const at = slab.position.get(seq);
  if (at === undefined) return;
  const last = --slab.count;
  slab.position.delete(seq);
  if (at !== last) {
    const lastSeq = slab.seqs[last]!;
    slab.seqs[at] = lastSeq;
    slab.vectors.copyWithin(at * slab.dims, last * slab.dims, (last + 1) * slab.dims);
    slab.position.set(lastSeq, at);
  }
}

function grow(slab: Slab): void {
  const capacity = slab.seqs.length * 2;
  const seqs = new Float64Array(capacity);
  seqs.set(slab.seqs);
  const vectors = new Float32Array(capacity * slab.dims);
  vectors.set(slab.vectors);
  slab.seqs = seqs;
  slab.vectors = vectors;
}
