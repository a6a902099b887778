import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertTestUser } from '../../test/helpers/test-database.js';
import type { Database } from '../db/database.js';
import { MemoryRepository } from './memory.repository.js';
import { MemoryService } from './memory.service.js';
import type { VectorIndex, VectorSource } from './vector-index.js';

type MakeIndex = (source: VectorSource) => VectorIndex;

function rand(seed: number) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff - 0.5;
  };
}

/**
 * The behaviour every VectorIndex must show, driven through the memory service over a real database:
 * exact results, writes seen at once, filters, owner scoping, and writes made by another node.
 */
export function vectorIndexContract(
  name: string,
  make: MakeIndex,
  open: () => Promise<{ database: Database; close: () => Promise<void> }>,
) {
  describe(`VectorIndex contract: ${name}`, () => {
    let database: Database;
    let close: () => Promise<void>;
    let a: MemoryService;
    let b: MemoryService;
    const owner = randomUUID();
    const stranger = randomUUID();
    const dims = 16;
    const r = rand(7);
    const vecs = Array.from({ length: 120 }, () => Array.from({ length: dims }, r));
    const service = () => {
      const repo = new MemoryRepository(database.dialect);
      return new MemoryService(
        database.db,
        repo,
        make(repo),
        { lexicalDimensions: 64, chunkSize: 512, chunkOverlap: 32, maxDocumentsPerRequest: 1000 },
        () => undefined,
      );
    };
    const search = (s: MemoryService, q: number[], k = 5, where?: unknown) =>
      s.query({ userId: owner }, 'c', { embedding: q, mode: 'vector', top_k: k, ...(where ? { where } : {}) });
    const brute = (q: number[], ids: string[], k: number) => {
      const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      return ids
        .map((id) => {
          const v = vecs[Number(id.slice(1))]!;
          return { id, s: v.reduce((s, x, i) => s + x * q[i]!, 0) / (norm(v) * norm(q)) };
        })
        .sort((x, y) => y.s - x.s)
        .slice(0, k);
    };

    beforeAll(async () => {
      ({ database, close } = await open());
      for (const id of [owner, stranger]) await insertTestUser(database.db, id);
      a = service();
      b = service();
      await a.createCollection(owner, { name: 'c', embedding: { embedder: 'none' } });
      await a.addDocuments(
        { userId: owner },
        'c',
        vecs.map((v, i) => ({ id: `v${i}`, content: `doc ${i}`, metadata: { even: i % 2 === 0 }, embedding: v })),
        { onExisting: 'error' },
      );
    });
    afterAll(async () => close?.());

    it('returns the exact top-k by cosine similarity, best first', async () => {
      const ids = vecs.map((_, i) => `v${i}`);
      for (let t = 0; t < 5; t++) {
        const q = Array.from({ length: dims }, r);
        const hits = await search(a, q, 7);
        const expected = brute(q, ids, 7);
        expect(hits.map((h) => h.id)).toEqual(expected.map((e) => e.id));
        hits.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i]!.s, 5));
      }
    });

    it('sees upserts and deletes at once', async () => {
      const q = vecs[3]!.map((x) => -x);
      await a.addDocuments({ userId: owner }, 'c', [{ id: 'v3', content: 'flipped', embedding: q }], {
        onExisting: 'replace',
      });
      expect((await search(a, q, 1))[0]).toMatchObject({ id: 'v3', content: 'flipped' });
      await a.deleteDocuments(owner, 'c', { ids: ['v3'] });
      expect((await search(a, q, 3)).map((h) => h.id)).not.toContain('v3');
      await a.addDocuments(
        { userId: owner },
        'c',
        [{ id: 'v3', content: 'doc 3', metadata: { even: false }, embedding: vecs[3] }],
        {
          onExisting: 'error',
        },
      );
    });

    it('applies filters before ranking', async () => {
      const hits = await search(a, vecs[0]!, 10, { even: false });
      expect(hits).toHaveLength(10);
      expect(hits.every((h) => Number(h.id.slice(1)) % 2 === 1)).toBe(true);
      const odd = vecs.map((_, i) => `v${i}`).filter((id) => Number(id.slice(1)) % 2 === 1);
      expect(hits.map((h) => h.id)).toEqual(brute(vecs[0]!, odd, 10).map((e) => e.id));
    });

    it('sees writes made through another node (another index over the same database)', async () => {
      await search(b, vecs[5]!, 1);
      const q = vecs[9]!.map((x) => -x);
      await a.addDocuments({ userId: owner }, 'c', [{ id: 'fresh', content: 'new', embedding: q }], {
        onExisting: 'error',
      });
      expect((await search(b, q, 1))[0]!.id).toBe('fresh');
      await a.deleteDocuments(owner, 'c', { ids: ['fresh'] });
      expect((await search(b, q, 3)).map((h) => h.id)).not.toContain('fresh');
    });

    it('serves a collection that was empty when first searched', async () => {
      await a.createCollection(owner, { name: 'empty', embedding: { embedder: 'none' } });
      const q = [1, 0, 0];
      expect(await a.query({ userId: owner }, 'empty', { embedding: q, mode: 'vector' })).toEqual([]);
      await a.addDocuments({ userId: owner }, 'empty', [{ id: 'first', content: 'x', embedding: q }], {
        onExisting: 'error',
      });
      expect((await a.query({ userId: owner }, 'empty', { embedding: q, mode: 'vector' })).map((h) => h.id)).toEqual([
        'first',
      ]);
    });

    it('never answers for another owner, even with the collection id', async () => {
      const coll = await a.collectionRow(owner, 'c');
      const hits = await a.index.search(database.db, {
        ownerId: stranger,
        collectionId: coll.id,
        version: coll.version,
        vector: Float32Array.from(vecs[0]!),
        k: 5,
      });
      expect(hits).toEqual([]);
    });
  });
}
