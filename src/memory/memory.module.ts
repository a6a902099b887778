import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import { chromaRoutes } from './chroma.routes.js';
import { EntitySearch, entitySearchRoutes, type EntitySearchDeps } from './entity-search.js';
import { InProcessVectorIndex } from './in-process-vector-index.js';
import { MemoryRepository } from './memory.repository.js';
import { memoryRoutes } from './memory.routes.js';
import { MemoryService } from './memory.service.js';
import type { EmbeddingsApi } from './provider-embedder.js';
import { SqlVectorIndex } from './sql-vector-index.js';

/** Builds the memory service from the config: repository, vector index and defaults. */
export function createMemoryService(
  config: Config,
  database: Pick<Database, 'db' | 'dialect'>,
  llm: () => EmbeddingsApi | undefined,
): MemoryService {
  const repo = new MemoryRepository(database.dialect);
  const index = config.memory_vector_index === 'sql' ? new SqlVectorIndex(repo) : new InProcessVectorIndex(repo);
  return new MemoryService(
    database.db,
    repo,
    index,
    {
      lexicalDimensions: config.memory_lexical_dimensions,
      chunkSize: config.memory_chunk_size,
      chunkOverlap: Math.min(config.memory_chunk_overlap, config.memory_chunk_size - 1),
      embeddingModel: config.memory_embedding_model,
      maxDocumentsPerRequest: config.memory_max_documents,
    },
    llm,
  );
}

export function createEntitySearch(config: Config, deps: Omit<EntitySearchDeps, 'embeddingModel'>): EntitySearch {
  return new EntitySearch({ ...deps, embeddingModel: config.memory_embedding_model });
}

/** REST under /api/v1/memory (with agent/capability search when given) and the Chroma-compatible API under /api/v2. */
export async function registerMemoryRoutes(
  server: FastifyInstance,
  memory: MemoryService,
  config: Config,
  search?: EntitySearch,
) {
  if (search) await server.register(entitySearchRoutes, { prefix: '/api/v1', search });
  await server.register(memoryRoutes, {
    prefix: '/api/v1',
    memory,
    maxPageSize: config.max_page_size,
    importLimit: config.memory_import_limit,
  });
  await server.register(chromaRoutes, { prefix: '/api/v2', memory });
}
