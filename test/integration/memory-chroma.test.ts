import { ChromaClient } from 'chromadb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** The official `chromadb` npm client, unchanged, against Clarion's Chroma-compatible API. */
describe.each(testDialects())('chromadb client against Clarion on %s', (dialect) => {
  let s: TestServer;
  let client: ChromaClient;
  let apiKey: string;

  beforeAll(async () => {
    s = await startTestServer({ dialect });
    const user = await s.createUser('operator');
    const key = await s.request('POST', '/api/v1/api-keys', { token: user.token, body: { name: 'chroma' } });
    expect(key.status).toBe(201);
    apiKey = key.body.key;
    const url = new URL(s.url);
    client = new ChromaClient({
      host: url.hostname,
      port: Number(url.port),
      ssl: false,
      headers: { Authorization: `Bearer ${apiKey}` },
    });
  });
  afterAll(async () => s?.close());

  it('creates, adds, queries with a filter, gets, deletes and counts', async () => {
    expect(typeof (await client.heartbeat())).toBe('number');
    const col = await client.createCollection({ name: 'notes', embeddingFunction: null, metadata: { owner: 'tests' } });
    expect(col.name).toBe('notes');
    await col.add({
      ids: ['n1', 'n2', 'n3', 'n4'],
      embeddings: [
        [1, 0, 0],
        [0.9, 0.1, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
      documents: ['apples are red', 'cherries are red too', 'the sky is blue', 'grass is green'],
      metadatas: [
        { colour: 'red', n: 1 },
        { colour: 'red', n: 2 },
        { colour: 'blue', n: 3 },
        { colour: 'green', n: 4 },
      ],
    });
    expect(await col.count()).toBe(4);

    const q = await col.query({ queryEmbeddings: [[1, 0, 0]], nResults: 3, where: { n: { $gte: 2 } } });
    expect(q.ids[0]).toEqual(['n2', 'n3', 'n4']);
    expect(q.documents[0]![0]).toBe('cherries are red too');
    expect(q.metadatas[0]![0]).toEqual({ colour: 'red', n: 2 });
    expect(q.distances[0]![0]).toBeCloseTo(1 - 0.9 / Math.sqrt(0.82), 5);

    const both = await col.query({
      queryEmbeddings: [
        [1, 0, 0],
        [0, 0, 1],
      ],
      nResults: 1,
    });
    expect(both.ids).toEqual([['n1'], ['n4']]);

    const filtered = await col.query({
      queryEmbeddings: [[0, 1, 0]],
      nResults: 10,
      where: { $and: [{ colour: 'red' }, { n: { $lt: 2 } }] },
      whereDocument: { $contains: 'apples' },
    });
    expect(filtered.ids[0]).toEqual(['n1']);

    const got = await col.get({ ids: ['n3', 'n1'], include: ['documents', 'metadatas', 'embeddings'] as never });
    expect([...got.ids].sort()).toEqual(['n1', 'n3']);
    const n3 = got.ids.indexOf('n3');
    expect(got.documents[n3]).toBe('the sky is blue');
    expect(got.embeddings[n3]).toEqual([0, 1, 0]);
    const reds = await col.get({ where: { colour: 'red' } });
    expect(reds.ids).toEqual(['n1', 'n2']);

    await col.upsert({
      ids: ['n4'],
      embeddings: [[0, 0, 1]],
      documents: ['grass is very green'],
      metadatas: [{ colour: 'green', n: 5 }],
    });
    expect((await col.get({ ids: ['n4'] })).documents[0]).toBe('grass is very green');

    await col.delete({ ids: ['n1'] });
    expect(await col.count()).toBe(3);
    await col.delete({ where: { colour: 'blue' } });
    expect(await col.count()).toBe(2);

    const again = await client.getCollection({ name: 'notes', embeddingFunction: null as never });
    expect(again.id).toBe(col.id);
    expect(await again.count()).toBe(2);
    const same = await client.getOrCreateCollection({ name: 'notes', embeddingFunction: null });
    expect(same.id).toBe(col.id);
    const list = await client.listCollections();
    expect(list.map((c) => c.name)).toEqual(['notes']);
    await client.deleteCollection({ name: 'notes' });
    await expect(client.getCollection({ name: 'notes', embeddingFunction: null as never })).rejects.toThrow();
  });

  it('refuses a client without a Clarion key, and another user cannot see the collections', async () => {
    const url = new URL(s.url);
    const anon = new ChromaClient({ host: url.hostname, port: Number(url.port), ssl: false });
    await expect(anon.listCollections()).rejects.toThrow(/Unauthorized/i);

    await client.createCollection({ name: 'private', embeddingFunction: null });
    const other = await s.createUser('operator');
    const stranger = new ChromaClient({
      host: url.hostname,
      port: Number(url.port),
      ssl: false,
      headers: { Authorization: `Bearer ${other.token}` },
    });
    expect(await stranger.listCollections()).toEqual([]);
    await expect(stranger.getCollection({ name: 'private', embeddingFunction: null as never })).rejects.toThrow();
  });
});
