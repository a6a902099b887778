import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

/** Agent and capability search (FindSimilarAgents); ranking is in-process, so SQLite covers it. */
describe('agent and capability search', () => {
  let s: TestServer;
  let token: string;

  beforeAll(async () => {
    s = await startTestServer({ dialect: 'sqlite' });
    token = (await s.createUser('operator')).token;
    for (const [name, description] of [
      ['sql-helper', 'Answers questions about PostgreSQL and SQLite databases, indexes and query plans.'],
      ['baker', 'Helps with sourdough bread recipes and proofing times.'],
      ['net-debugger', 'Diagnoses DNS resolution and TCP connection problems.'],
    ]) {
      const r = await s.request('POST', '/api/v1/agents', { token, body: { name, description, model: 'gpt-4o-mini' } });
      expect(r.status, r.text).toBe(201);
    }
  });
  afterAll(async () => s?.close());

  it('finds agents like a description, best first, with scores', async () => {
    const r = await s.request('POST', '/api/v1/memory/search/agents', {
      token,
      body: { query: 'an agent for slow database queries and indexes', top_k: 2 },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.semantic).toBe(false);
    expect(r.body.items[0].name).toBe('sql-helper');
    expect(r.body.items[0].score).toBeGreaterThan(r.body.items[1]?.score ?? 0);
    const dns = await s.request('POST', '/api/v1/memory/search/agents', { token, body: { query: 'DNS lookups fail' } });
    expect(dns.body.items[0].name).toBe('net-debugger');
    const other = await s.createUser('operator');
    const theirs = await s.request('POST', '/api/v1/memory/search/agents', {
      token: other.token,
      body: { query: 'database' },
    });
    expect(theirs.body.items).toEqual([]);
  });

  it('lists the capabilities that fit a target, ranked by the request', async () => {
    const root = fs.mkdtempSync('/tmp/clarion-files-');
    const t = await s.request('POST', '/api/v1/targets', {
      token,
      body: { name: 'docs', type: 'filesystem', config: { root, read_only: true } },
    });
    expect(t.status, t.text).toBe(201);
    const r = await s.request('POST', '/api/v1/memory/search/capabilities', {
      token,
      body: { query: 'read the contents of a file', target: 'docs', top_k: 10 },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.items.length).toBeGreaterThan(0);
    expect(r.body.items[0].name).toBe('file.read');
    expect(r.body.items.map((c: { name: string }) => c.name)).not.toContain('http.request');
    const missing = await s.request('POST', '/api/v1/memory/search/capabilities', {
      token,
      body: { query: 'x', target: 'nope' },
    });
    expect(missing.status).toBe(404);
    fs.rmSync(root, { recursive: true, force: true });
  });
});
