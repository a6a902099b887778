import type { DbOrTrx } from '../db/database.js';
import type { DocFilter } from './memory-filter.js';

export interface VectorHit {
  seq: number;
  /** Cosine similarity, from -1 to 1. */
  score: number;
}

export interface VectorQuery {
  ownerId: string;
  collectionId: string;
  /** The collection's write version as the caller just read it; a cached index older than this reloads. */
  version: number;
  /** Unit length (the memory service normalises it). */
  vector: Float32Array;
  k: number;
  /** Metadata and document conditions; only documents matching it qualify. */
  filter?: DocFilter | undefined;
}

export interface VectorChange {
  upserted: { seq: number; embedding: Float32Array }[];
  removed: number[];
}

/** Where stored vectors come from: the memory repository implements it. */
export interface VectorSource {
  loadVectors(
    db: DbOrTrx,
    ownerId: string,
    collectionId: string,
    filter?: DocFilter,
  ): Promise<{ version: number; rows: { seq: number; embedding: Float32Array }[] }>;
  matchingSeqs(db: DbOrTrx, ownerId: string, collectionId: string, filter: DocFilter): Promise<number[]>;
}

/**
 * Exact nearest-neighbour search over a collection's vectors. Writes go to the database first; then the
 * service tells the index what changed (`applied`) so a cached copy stays in step without a reload.
 */
export interface VectorIndex {
  readonly name: string;
  search(db: DbOrTrx, q: VectorQuery): Promise<VectorHit[]>;
  applied(collectionId: string, fromVersion: number, toVersion: number, change: VectorChange): void;
  forget(collectionId: string): void;
}

/** Dot product of unit vectors = cosine similarity. */
export function dot(a: Float32Array, aOffset: number, b: Float32Array, dims: number): number {
  let s = 0;
  for (let j = 0; j < dims; j++) s += a[aOffset + j]! * b[j]!;
  return s;
}
