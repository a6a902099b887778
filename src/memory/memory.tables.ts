import type { Generated } from 'kysely';

/** Row shapes of the memory tables. JSON is text; embeddings are little-endian float32 bytes. */
export interface MemoryCollectionsTable {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  metadata: string;
  /** `lexical` | `provider` | `none` (the caller sends embeddings). */
  embedder: string;
  model: string | null;
  /** Fixed by the first embedding stored when not given at creation. */
  dimensions: number | null;
  chunk_size: number;
  chunk_overlap: number;
  /** Bumped by every write to the collection's documents, so cached vector indexes know when they are stale. */
  version: number;
  created_at: string;
  updated_at: string;
}

export interface MemoryDocumentsTable {
  /** Integer row key: the full-text index and the vector index refer to documents by it. */
  seq: Generated<number>;
  collection_id: string;
  owner_id: string;
  doc_id: string;
  /** The document a chunk was cut from; null for a document stored whole. */
  source_id: string | null;
  chunk_index: number | null;
  content: string;
  metadata: string;
  embedding: Buffer | null;
  created_at: string;
  updated_at: string;
}

export interface MemoryTables {
  memory_collections: MemoryCollectionsTable;
  memory_documents: MemoryDocumentsTable;
}
