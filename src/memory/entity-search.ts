import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Db } from '../db/database.js';
import { AppError } from '../errors/index.js';
import { principalOf } from '../http/auth-hook.js';
import { StrictObject } from '../http/schemas.js';
import { LexicalEmbedder, lexicalTokens } from './lexical-embedder.js';
import type { EmbeddingsApi } from './provider-embedder.js';

/** What entity search needs to know about a capability (the capability service's shape). */
export interface CapabilityInfo {
  id: string;
  name: string;
  description?: string | undefined;
  task_type: string;
  target_types: string[];
  system: boolean;
}

export interface EntitySearchDeps {
  db: Db;
  /** Every capability the user can use (system ones and their own). */
  capabilities: (userId: string) => Promise<CapabilityInfo[]>;
  /** The type of one of the user's targets, or undefined when they have none of that name or id. */
  targetType: (userId: string, ref: string) => Promise<string | undefined>;
  /** Provider embeddings make the ranking semantic; without them it is lexical. */
  llm: () => EmbeddingsApi | undefined;
  embeddingModel?: string | undefined;
}

export interface EntityHit {
  id: string;
  name: string;
  score: number;
  description: string;
}

const RRF_K = 60;

/**
 * "Find agents like ...", "which capabilities fit this target": ranks the user's agents or capabilities
 * against a description by fusing keyword overlap (IDF-weighted) with vector similarity — provider
 * embeddings when `memory_embedding_model` is set, the lexical embedder otherwise (`semantic` says which).
 */
export class EntitySearch {
  private readonly lexical = new LexicalEmbedder(512);

  constructor(private readonly d: EntitySearchDeps) {}

  get semantic(): boolean {
    return Boolean(this.d.embeddingModel && this.d.llm());
  }

  async agents(userId: string, query: string, k: number): Promise<EntityHit[]> {
    const rows = await this.d.db
      .selectFrom('agents')
      .select(['id', 'name', 'description', 'system_prompt', 'model'])
      .where('owner_id', '=', userId)
      .execute();
    const items = rows.map((r) => ({
      id: r.id,
      name: r.name,
      description: r.description,
      text: `${r.name.replace(/[-_]/g, ' ')}. ${r.description} ${r.system_prompt}`,
    }));
    return this.rank(userId, query, items, k);
  }

  async capabilities(userId: string, query: string, k: number, target?: string): Promise<EntityHit[]> {
    let caps = await this.d.capabilities(userId);
    if (target) {
      const type = await this.d.targetType(userId, target);
      if (!type) throw new AppError('TARGET_NOT_FOUND', `Target ${JSON.stringify(target)} not found.`);
      caps = caps.filter((c) => c.target_types.length === 0 || c.target_types.includes(type));
    }
    const items = caps.map((c) => ({
      id: c.id,
      name: c.name,
      description: c.description ?? '',
      text: `${c.name.replace(/[-_.]/g, ' ')}. ${c.description ?? ''} ${c.task_type.replace(/[-_.]/g, ' ')} ${c.target_types.join(' ')}`,
    }));
    return this.rank(userId, query, items, k);
  }

  private async rank(
    userId: string,
    query: string,
    items: { id: string; name: string; description: string; text: string }[],
    k: number,
  ): Promise<EntityHit[]> {
    if (items.length === 0) return [];
    // Keyword: sum of IDF of the query words each item contains.
    const docs = items.map((i) => new Set(lexicalTokens(i.text)));
    const qTokens = [...new Set(lexicalTokens(query))];
    const idf = (t: string) => Math.log(1 + items.length / (1 + docs.filter((d) => d.has(t)).length));
    const keyword = items.map((_, i) => qTokens.reduce((s, t) => s + (docs[i]!.has(t) ? idf(t) : 0), 0));
    // Vectors.
    const texts = [query, ...items.map((i) => i.text)];
    let vecs: Float32Array[];
    const llm = this.d.llm();
    if (this.d.embeddingModel && llm) {
      const res = await llm.embed({ model: this.d.embeddingModel, input: texts }, { userId });
      vecs = res.data.map((v) => Float32Array.from(v));
    } else {
      vecs = texts.map((t) => this.lexical.embedOne(t));
    }
    const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
    const q = vecs[0]!;
    const cos = items.map((_, i) => {
      const v = vecs[i + 1]!;
      return v.reduce((s, x, j) => s + x * q[j]!, 0) / (norm(v) * norm(q));
    });
    const order = (xs: number[]) => xs.map((s, i) => ({ i, s })).sort((a, b) => b.s - a.s);
    const fused = new Map<number, number>();
    order(keyword)
      .filter((e) => e.s > 0)
      .forEach((e, r) => fused.set(e.i, (fused.get(e.i) ?? 0) + 1 / (RRF_K + r + 1)));
    order(cos)
      .filter((e) => e.s > 0)
      .forEach((e, r) => fused.set(e.i, (fused.get(e.i) ?? 0) + 1 / (RRF_K + r + 1)));
    return [...fused.entries()]
      .sort((a, b) => b[1] - a[1] || cos[b[0]]! - cos[a[0]]!)
      .slice(0, k)
      .map(([i, score]) => ({ id: items[i]!.id, name: items[i]!.name, description: items[i]!.description, score }));
  }
}

const SearchBody = StrictObject({
  query: Type.String({ minLength: 1, maxLength: 2000 }),
  top_k: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
});
const Hits = Type.Object({
  semantic: Type.Boolean({ description: 'false when ranked by the lexical embedder (shared words, not meaning)' }),
  items: Type.Array(
    Type.Object({ id: Type.String(), name: Type.String(), description: Type.String(), score: Type.Number() }),
  ),
});

export const entitySearchRoutes: FastifyPluginAsyncTypebox<{ search: EntitySearch }> = async (app, { search }) => {
  const tags = ['memory'];
  app.post('/memory/search/agents', { schema: { tags, body: SearchBody, response: { 200: Hits } } }, async (req) => ({
    semantic: search.semantic,
    items: await search.agents(principalOf(req).userId, req.body.query, req.body.top_k ?? 5),
  }));
  app.post(
    '/memory/search/capabilities',
    {
      schema: {
        tags,
        body: StrictObject({
          ...SearchBody.properties,
          target: Type.Optional(
            Type.String({ minLength: 1, maxLength: 200, description: 'only capabilities that fit this target' }),
          ),
        }),
        response: { 200: Hits },
      },
    },
    async (req) => ({
      semantic: search.semantic,
      items: await search.capabilities(principalOf(req).userId, req.body.query, req.body.top_k ?? 5, req.body.target),
    }),
  );
};
