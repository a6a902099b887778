import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

interface CorpusDoc {
  id: string;
  content: string;
  metadata: Record<string, string | number | boolean>;
  embedding: number[];
}
const corpus = JSON.parse(
  fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/memory-corpus.json'), 'utf8'),
) as { documents: CorpusDoc[] };

describe.each(testDialects())('memory on %s', (dialect) => {
  let s: TestServer;
  let token: string;
  const base = '/api/v1/memory/collections';

  beforeAll(async () => {
    s = await startTestServer({ dialect });
    token = (await s.createUser('operator')).token;
    const created = await s.request('POST', base, {
      token,
      body: { name: 'corpus', embedding: { embedder: 'none' }, metadata: { purpose: 'tests' } },
    });
    expect(created.status).toBe(201);
    const added = await s.request('POST', `${base}/corpus/documents`, { token, body: { documents: corpus.documents } });
    expect(added.status).toBe(201);
    expect(added.body.chunks).toBe(corpus.documents.length);
  });
  afterAll(async () => s?.close());

  const query = (body: Record<string, unknown>, t = token) =>
    s.request('POST', `${base}/corpus/query`, { token: t, body });
  const ids = (res: { body: { items: { id: string }[] } }) => res.body.items.map((h) => h.id);
  const count = async (where: unknown, where_document?: unknown) => {
    const r = await s.request('POST', `${base}/corpus/documents/get`, {
      token,
      body: { ...(where ? { where } : {}), ...(where_document ? { where_document } : {}) },
    });
    expect(r.status).toBe(200);
    return r.body.items.length as number;
  };

  it('ranks by cosine similarity with known vectors', async () => {
    const r = await query({ embedding: [1, 0, 0, 0], top_k: 3 });
    expect(r.status).toBe(200);
    expect(r.body.mode).toBe('vector');
    expect(ids(r)).toEqual(['pg-vacuum', 'btree-index', 'sqlite-wal']);
    expect(r.body.items[0].score).toBeCloseTo(0.9945, 3);
    expect(r.body.items[0].score).toBeGreaterThan(r.body.items[1].score);
    const mixed = await query({ embedding: [0.5, 0, 0.5, 0], top_k: 1 });
    expect(ids(mixed)).toEqual(['connection-pool']);
  });

  it('ranks keyword matches by BM25 / ts_rank', async () => {
    const r = await query({ query: 'connection pool TCP handshake', mode: 'keyword', top_k: 5 });
    expect(r.status).toBe(200);
    expect(ids(r)).toEqual(['connection-pool', 'tcp-handshake']);
    const none = await query({ query: 'zeppelin', mode: 'keyword' });
    expect(ids(none)).toEqual([]);
    // Query syntax characters are words, not operators.
    const odd = await query({ query: 'NEAR( "sourdough" OR * ) -- ;', mode: 'keyword' });
    expect(odd.status).toBe(200);
    expect(ids(odd)).toEqual(['sourdough']);
  });

  it('fuses keyword and vector ranks in hybrid mode', async () => {
    const r = await query({ query: 'TCP handshake', embedding: [0, 0, 1, 0], mode: 'hybrid', top_k: 3 });
    expect(r.status).toBe(200);
    expect(ids(r)).toEqual(['tcp-handshake', 'connection-pool', 'dns-cache']);
    expect(r.body.items[0].score).toBeGreaterThan(r.body.items[1].score);
  });

  it('applies metadata filters as documented', async () => {
    expect(await count({ topic: 'databases' })).toBe(4);
    expect(await count({ year: { $gte: 2020 } })).toBe(4);
    expect(await count({ year: { $gt: 2021 } })).toBe(2);
    expect(await count({ year: { $lt: 2015 } })).toBe(1);
    expect(await count({ year: { $lte: 2015 } })).toBe(2);
    expect(await count({ topic: { $in: ['cooking', 'astronomy'] } })).toBe(4);
    expect(await count({ topic: { $nin: ['databases'] } })).toBe(6);
    expect(await count({ reviewed: { $ne: true } })).toBe(4);
    expect(await count({ reviewed: false })).toBe(4);
    expect(await count({ $and: [{ topic: 'databases' }, { level: { $lt: 3 } }] })).toBe(3);
    expect(await count({ $or: [{ topic: 'cooking' }, { year: { $lt: 2015 } }] })).toBe(3);
    // Types are strict: the string "2021" is not the number 2021.
    expect(await count({ year: '2021' })).toBe(0);
    // A missing key matches $ne and $nin, never $eq.
    expect(await count({ colour: { $ne: 'red' } })).toBe(10);
    expect(await count({ colour: 'red' })).toBe(0);
    expect(await count(undefined, { $contains: 'TCP' })).toBe(2);
    expect(await count(undefined, { $not_contains: 'TCP' })).toBe(8);
    expect(await count(undefined, { $or: [{ $contains: 'yeast' }, { $contains: 'stock' }] })).toBe(2);
    expect(await count({ topic: 'databases' }, { $contains: 'TCP' })).toBe(1);
  });

  it('filters vector and keyword search too', async () => {
    const v = await query({ embedding: [0, 0, 1, 0], where: { topic: 'databases' }, top_k: 2 });
    expect(ids(v)).toEqual(['connection-pool', 'sqlite-wal']);
    const k = await query({ query: 'TCP', mode: 'keyword', where: { year: { $gt: 2020 } } });
    expect(ids(k)).toEqual(['connection-pool']);
    const d = await query({ embedding: [0, 0, 1, 0], where_document: { $not_contains: 'TCP' }, top_k: 1 });
    expect(ids(d)).toEqual(['dns-cache']);
  });

  it('rejects bad filters with the offending path', async () => {
    const cases: [unknown, string][] = [
      [{ year: { $gt: 'x' } }, 'where/year/$gt'],
      [{ year: { $regex: '.*' } }, 'where/year/$regex'],
      [{ $not: { year: 1 } }, 'where/$not'],
      [{ topic: { $in: [] } }, 'where/topic/$in'],
      [{ topic: { $in: ['a', 1] } }, 'where/topic/$in'],
      [{ "x') or 1=1 --": 1 }, "where/x') or 1=1 --"],
      [{ topic: { a: 1 } }, 'where/topic/a'],
    ];
    for (const [where, field] of cases) {
      const r = await query({ embedding: [1, 0, 0, 0], where });
      expect(r.status, JSON.stringify(where)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
      expect(r.body.error.details.field).toBe(field);
    }
    const doc = await query({ embedding: [1, 0, 0, 0], where_document: { $regex: 'a' } });
    expect(doc.status).toBe(400);
    expect(doc.body.error.details.field).toBe('where_document/$regex');
  });

  it('gets, upserts, deletes and counts documents', async () => {
    await s.request('POST', base, { token, body: { name: 'scratch', embedding: { embedder: 'none' } } });
    const add = (docs: unknown[]) =>
      s.request('POST', `${base}/scratch/documents`, { token, body: { documents: docs } });
    expect((await add([{ id: 'a', content: 'alpha', embedding: [1, 0] }])).status).toBe(201);
    const dup = await add([
      { id: 'b', content: 'beta', embedding: [0, 1] },
      { id: 'a', content: 'again', embedding: [1, 0] },
    ]);
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('MEMORY_DOCUMENT_EXISTS');
    // Nothing half-written: b was not stored either.
    expect((await s.request('GET', `${base}/scratch/count`, { token })).body.count).toBe(1);
    const wrongDims = await add([{ id: 'c', content: 'gamma', embedding: [1, 0, 0] }]);
    expect(wrongDims.status).toBe(400);
    expect(wrongDims.body.error.code).toBe('MEMORY_DIMENSION_MISMATCH');
    const missing = await add([{ id: 'c', content: 'gamma' }]);
    expect(missing.body.error.code).toBe('MEMORY_EMBEDDING_REQUIRED');

    const up = await s.request('PUT', `${base}/scratch/documents`, {
      token,
      body: { documents: [{ id: 'a', content: 'alpha two', metadata: { v: 2 }, embedding: [0, 1] }] },
    });
    expect(up.status).toBe(200);
    const got = await s.request('POST', `${base}/scratch/documents/get`, {
      token,
      body: { ids: ['a'], include_embeddings: true },
    });
    expect(got.body.items).toHaveLength(1);
    expect(got.body.items[0]).toMatchObject({ id: 'a', content: 'alpha two', metadata: { v: 2 }, embedding: [0, 1] });
    // The vector index follows the upsert.
    const hit = await s.request('POST', `${base}/scratch/query`, { token, body: { embedding: [0, 1], top_k: 1 } });
    expect(hit.body.items[0].score).toBeCloseTo(1, 5);

    const noSel = await s.request('POST', `${base}/scratch/documents/delete`, { token, body: {} });
    expect(noSel.status).toBe(400);
    const del = await s.request('POST', `${base}/scratch/documents/delete`, { token, body: { where: { v: 2 } } });
    expect(del.body.deleted).toBe(1);
    expect((await s.request('GET', `${base}/scratch/count`, { token })).body.count).toBe(0);
    const after = await s.request('POST', `${base}/scratch/query`, { token, body: { embedding: [0, 1] } });
    expect(after.body.items).toEqual([]);
  });

  it('chunks long documents and links each chunk to its source', async () => {
    const c = await s.request('POST', base, {
      token,
      body: { name: 'chunks', chunking: { size: 32, overlap: 8 } },
    });
    expect(c.status).toBe(201);
    expect(c.body.embedding).toMatchObject({ embedder: 'lexical', semantic: false, dimensions: 384 });
    const sentences = Array.from({ length: 30 }, (_, i) => `Sentence number ${i} talks about topic ${i % 5}.`);
    const long = sentences.join(' ') + ' The secret word is aubergine.';
    const add = await s.request('POST', `${base}/chunks/documents`, {
      token,
      body: {
        documents: [
          { id: 'long', content: long, metadata: { kind: 'essay' } },
          { id: 'short', content: 'tiny' },
        ],
      },
    });
    expect(add.status).toBe(201);
    expect(add.body.chunks).toBeGreaterThan(5);
    const got = await s.request('POST', `${base}/chunks/documents/get`, { token, body: { ids: ['long'] } });
    const items = got.body.items as {
      id: string;
      source_id: string;
      chunk_index: number;
      metadata: object;
      content: string;
    }[];
    expect(items.length).toBe(add.body.chunks - 1);
    items.forEach((d, i) => {
      expect(d).toMatchObject({ id: `long#${i}`, source_id: 'long', chunk_index: i, metadata: { kind: 'essay' } });
    });
    // Overlap: each chunk starts with words the previous one ended with.
    const firstWordsOfSecond = items[1]!.content.split(' ').slice(0, 3).join(' ');
    expect(items[0]!.content).toContain(firstWordsOfSecond);
    // The lexical embedder finds the chunk that shares the rare word.
    const r = await s.request('POST', `${base}/chunks/query`, {
      token,
      body: { query: 'aubergine', mode: 'vector', top_k: 1 },
    });
    expect(r.body.items[0].content).toContain('aubergine');
    expect(r.body.items[0].source_id).toBe('long');
    // Deleting the source removes its chunks.
    const del = await s.request('POST', `${base}/chunks/documents/delete`, { token, body: { ids: ['long'] } });
    expect(del.body.deleted).toBe(items.length);
    expect((await s.request('GET', `${base}/chunks/count`, { token })).body.count).toBe(1);
  });

  it('exports memory to one file and imports it for another user, vectors kept', async () => {
    const exp = (body: unknown) =>
      fetch(`${s.url}/api/v1/memory/export`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const res = await exp({ collections: ['corpus'] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    const file = Buffer.from(await res.arrayBuffer());
    const importer = await s.createUser('operator');
    const imp = (data: Buffer, headers: Record<string, string> = {}, qs = '') =>
      fetch(`${s.url}/api/v1/memory/import${qs}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${importer.token}`, 'content-type': 'application/gzip', ...headers },
        body: new Uint8Array(data),
      });
    const r = await imp(file);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ collections: [{ name: 'corpus', documents: 10 }] });
    const q = await s.request('POST', `${base}/corpus/query`, {
      token: importer.token,
      body: { embedding: [1, 0, 0, 0], top_k: 3 },
    });
    expect(ids(q)).toEqual(['pg-vacuum', 'btree-index', 'sqlite-wal']);
    const again = await imp(file);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('MEMORY_COLLECTION_EXISTS');
    expect((await imp(file, {}, '?replace=true')).status).toBe(200);
    expect((await s.request('GET', `${base}/corpus/count`, { token: importer.token })).body.count).toBe(10);

    const sealed = Buffer.from(await (await exp({ passphrase: 'a long passphrase' })).arrayBuffer());
    expect(sealed.includes(Buffer.from('pg-vacuum'))).toBe(false);
    const other = await s.createUser('operator');
    const impOther = (headers: Record<string, string>) =>
      fetch(`${s.url}/api/v1/memory/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${other.token}`, 'content-type': 'application/octet-stream', ...headers },
        body: sealed,
      });
    expect(((await (await impOther({})).json()) as { error: { code: string } }).error.code).toBe(
      'ARCHIVE_PASSPHRASE_REQUIRED',
    );
    expect(
      ((await (await impOther({ 'x-clarion-passphrase': 'wrong one!' })).json()) as { error: { code: string } }).error
        .code,
    ).toBe('ARCHIVE_PASSPHRASE_WRONG');
    const ok = await impOther({ 'x-clarion-passphrase': 'a long passphrase' });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { collections: { name: string }[] }).collections.map((c) => c.name).sort()).toEqual([
      'chunks',
      'corpus',
      'scratch',
    ]);

    const garbage = await imp(Buffer.from('not gzip at all'));
    expect(garbage.status).toBe(400);
    expect(((await garbage.json()) as { error: { code: string } }).error.code).toBe('ARCHIVE_INVALID');
  });

  it('keeps every user to their own memory whatever they send', async () => {
    const other = await s.createUser('operator');
    const corpusId = (await s.request('GET', `${base}/corpus`, { token })).body.id as string;
    // Another user's collection answers 404 by name or id, for every operation.
    for (const ref of ['corpus', corpusId]) {
      expect((await s.request('GET', `${base}/${ref}`, { token: other.token })).status).toBe(404);
      expect((await query({ embedding: [1, 0, 0, 0] }, other.token)).status).toBe(404);
      const del = await s.request('POST', `${base}/${ref}/documents/delete`, {
        token: other.token,
        body: { where: { topic: { $ne: 'x' } } },
      });
      expect(del.status).toBe(404);
      expect(del.body.error.code).toBe('MEMORY_COLLECTION_NOT_FOUND');
    }
    // Same collection name for another user: their own, empty, and filters cannot reach across.
    await s.request('POST', base, { token: other.token, body: { name: 'corpus', embedding: { embedder: 'none' } } });
    await s.request('POST', `${base}/corpus/documents`, {
      token: other.token,
      body: { documents: [{ id: 'pg-vacuum', content: 'mine', embedding: [1, 0, 0, 0] }] },
    });
    const theirs = await s.request('POST', `${base}/corpus/query`, {
      token: other.token,
      body: {
        embedding: [1, 0, 0, 0],
        where: { $or: [{ topic: 'databases' }, { topic: { $ne: 'databases' } }] },
        top_k: 50,
      },
    });
    expect(theirs.body.items.map((d: { content: string }) => d.content)).toEqual(['mine']);
    const all = await s.request('POST', `${base}/corpus/documents/get`, { token: other.token, body: {} });
    expect(all.body.items.map((d: { content: string }) => d.content)).toEqual(['mine']);
    const kw = await s.request('POST', `${base}/corpus/query`, {
      token: other.token,
      body: { query: 'PostgreSQL vacuum mine', mode: 'keyword' },
    });
    expect(kw.body.items.map((d: { content: string }) => d.content)).toEqual(['mine']);
    // The first user's data is untouched.
    expect((await s.request('GET', `${base}/corpus/count`, { token })).body.count).toBe(10);
    const list = await s.request('GET', base, { token: other.token });
    expect(list.body.items.map((c: { name: string }) => c.name)).toEqual(['corpus']);
  });

  it('needs memory permissions', async () => {
    const viewer = await s.createUser('viewer');
    const write = await s.request('POST', base, { token: viewer.token, body: { name: 'nope' } });
    expect(write.status).toBe(403);
    expect((await s.request('GET', base)).status).toBe(401);
  });

  it('manages collections', async () => {
    const dup = await s.request('POST', base, { token, body: { name: 'corpus' } });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('MEMORY_COLLECTION_EXISTS');
    const bad = await s.request('POST', base, { token, body: { name: 'x', embedding: { embedder: 'provider' } } });
    expect(bad.status).toBe(400);
    const unknown = await s.request('POST', base, { token, body: { name: 'y', colour: 'red' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details.field).toBe('body/colour');
    const patched = await s.request('PATCH', `${base}/scratch`, {
      token,
      body: { description: 'temp', metadata: { a: 1 } },
    });
    expect(patched.body).toMatchObject({ name: 'scratch', description: 'temp', metadata: { a: 1 } });
    const list = await s.request('GET', `${base}?limit=2`, { token });
    expect(list.body.items.map((c: { name: string }) => c.name)).toEqual(['chunks', 'corpus']);
    const next = await s.request('GET', `${base}?limit=2&cursor=${list.body.next_cursor}`, { token });
    expect(next.body.items.map((c: { name: string }) => c.name)).toEqual(['scratch']);
    expect((await s.request('DELETE', `${base}/scratch`, { token })).status).toBe(204);
    expect((await s.request('GET', `${base}/scratch`, { token })).status).toBe(404);
  });
});
