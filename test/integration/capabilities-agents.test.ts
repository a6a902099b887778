import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

describe.each(testDialects())('capabilities and agents on %s', (dialect) => {
  let s: TestServer;
  let op: { id: string; token: string };
  let other: { id: string; token: string };
  let viewer: { token: string };
  let folder: string;
  let fsTarget: string;
  let shellTarget: string;

  beforeAll(async () => {
    s = await startTestServer({ dialect });
    // Task types register the way any plugin's would; capabilities follow the registry.
    s.app.tasks
      .register({
        type: 'itest.file_probe',
        description: 'reads a file of a filesystem target',
        targetTypes: ['filesystem'],
        inputSchema: Type.Object({ path: Type.String() }),
        estimatedMs: 5,
        run: async () => ({}),
      })
      .register({
        type: 'itest.chat',
        description: 'asks the agent',
        targetTypes: [],
        requiresAgent: true,
        inputSchema: Type.Object({ prompt: Type.String() }),
        run: async () => ({}),
      });
    op = await s.createUser('operator');
    other = await s.createUser('operator');
    viewer = await s.createUser('viewer');
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-cap-'));
    const t1 = await s.request('POST', '/api/v1/targets', {
      token: op.token,
      body: { name: 'files', type: 'filesystem', config: { root: folder } },
    });
    fsTarget = t1.body.id;
    const t2 = await s.request('POST', '/api/v1/targets', {
      token: op.token,
      body: { name: 'box', type: 'shell', config: { cwd: folder, allowed_programs: ['ls'] } },
    });
    shellTarget = t2.body.id;
  });
  afterAll(async () => {
    await s?.close();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  const post = (url: string, body: unknown, token = op.token) => s.request('POST', url, { token, body });

  it('lists one read-only system capability per registered task type', async () => {
    const res = await s.request('GET', '/api/v1/capabilities?system=true&limit=100', { token: viewer.token });
    expect(res.status).toBe(200);
    const types = s.app.tasks.list().map((t) => t.type);
    expect(res.body.items.map((c: { task_type: string }) => c.task_type)).toEqual(types);
    const probe = res.body.items.find((c: { id: string }) => c.id === 'system:itest.file_probe');
    expect(probe).toMatchObject({
      system: true,
      name: 'itest.file_probe',
      target_types: ['filesystem'],
      estimated_ms: 5,
      input_schema: { type: 'object', required: ['path'] },
    });
    expect((await s.request('GET', '/api/v1/capabilities/system:itest.chat', { token: op.token })).body).toMatchObject({
      requires_agent: true,
    });
    for (const [method, body] of [
      ['PATCH', { description: 'x' }],
      ['PUT', { name: 'x', task_type: 'transform' }],
      ['DELETE', undefined],
    ] as const) {
      const r = await s.request(method, '/api/v1/capabilities/system:itest.chat', {
        token: op.token,
        ...(body ? { body } : {}),
      });
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('CAPABILITY_READ_ONLY');
    }
  });

  it('creates, validates, lists, updates and deletes user capabilities', async () => {
    const created = await post('/api/v1/capabilities', {
      name: 'read-notes',
      description: 'reads the notes file',
      task_type: 'itest.file_probe',
      input_schema: { type: 'object', properties: { path: { type: 'string', format: 'uri-reference' } } },
      defaults: { path: 'notes.md' },
      estimated_ms: 20,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ system: false, target_types: ['filesystem'], defaults: { path: 'notes.md' } });
    const id = created.body.id;

    const badSchemas: [unknown, string][] = [
      [{ type: 'object', properties: { a: { type: 'strnig' } } }, '/input_schema'],
      [{ type: 'object', properties: { a: { minLength: -1 } } }, '/input_schema'],
      [{ type: 'object', unknownKeyword: true }, '/input_schema'],
      [{ type: 'object', properties: { a: { $ref: 'https://example.com/schema.json' } } }, '/input_schema'],
      [{ type: 'string' }, '/input_schema/type'],
    ];
    for (const [schema, field] of badSchemas) {
      const r = await post('/api/v1/capabilities', { name: 'bad', task_type: 'transform', input_schema: schema });
      expect(r.status, JSON.stringify(schema)).toBe(400);
      expect(r.body.error.details.field.startsWith(field)).toBe(true);
    }
    const unknownTask = await post('/api/v1/capabilities', { name: 'bad', task_type: 'no.such.task' });
    expect(unknownTask.status).toBe(400);
    expect(unknownTask.body.error).toMatchObject({ code: 'TASK_TYPE_UNKNOWN', details: { field: 'task_type' } });
    const wrongTarget = await post('/api/v1/capabilities', {
      name: 'bad',
      task_type: 'itest.file_probe',
      target_types: ['http'],
    });
    expect(wrongTarget.body.error.details.field).toBe('/target_types/0');
    const builtinName = await post('/api/v1/capabilities', { name: 'transform', task_type: 'transform' });
    expect(builtinName.body.error.details.field).toBe('name');
    for (const field of ['id', 'owner_id', 'system', 'created_at']) {
      const r = await post('/api/v1/capabilities', { name: 'mass', task_type: 'transform', [field]: true });
      expect(r.status).toBe(400);
      expect(r.body.error.details.field).toBe(`body/${field}`);
    }
    const dup = await post('/api/v1/capabilities', { name: 'read-notes', task_type: 'transform' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('CAPABILITY_EXISTS');

    await post('/api/v1/capabilities', { name: 'reshape', task_type: 'transform' });
    const onlyMine = await s.request('GET', '/api/v1/capabilities?system=false', { token: op.token });
    expect(onlyMine.body.items.map((c: { name: string }) => c.name)).toEqual(['read-notes', 'reshape']);
    const fsOnes = await s.request('GET', '/api/v1/capabilities?target_type=filesystem', { token: op.token });
    // The built-in file tasks are filesystem capabilities too.
    expect(fsOnes.body.items.map((c: { name: string }) => c.name)).toEqual([
      'file.list',
      'file.read',
      'file.write',
      'itest.file_probe',
      'read-notes',
    ]);
    const byTask = await s.request('GET', '/api/v1/capabilities?task_type=transform', { token: op.token });
    expect(byTask.body.items.map((c: { name: string }) => c.name)).toEqual(['transform', 'reshape']);
    // Paging walks the system ones, then the user's own, without gaps or repeats.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { id: string }[]; next_cursor: string | null } } = await s.request(
        'GET',
        `/api/v1/capabilities?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        { token: op.token },
      );
      seen.push(...page.body.items.map((c) => c.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen.length).toBe(s.app.tasks.list().length + 2);
    expect(new Set(seen).size).toBe(seen.length);

    const patched = await s.request('PATCH', `/api/v1/capabilities/${id}`, {
      token: op.token,
      body: { estimated_ms: null, description: 'changed' },
    });
    expect(patched.body).toMatchObject({ estimated_ms: null, description: 'changed', name: 'read-notes' });
    const badPatch = await s.request('PATCH', `/api/v1/capabilities/${id}`, {
      token: op.token,
      body: { input_schema: { type: 'object', properties: 5 } },
    });
    expect(badPatch.status).toBe(400);

    // Another user sees neither it nor its name; a viewer cannot write.
    const theirs = await s.request('GET', `/api/v1/capabilities/${id}`, { token: other.token });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe('CAPABILITY_NOT_FOUND');
    expect((await s.request('GET', '/api/v1/capabilities/read-notes', { token: other.token })).status).toBe(404);
    expect((await s.request('DELETE', `/api/v1/capabilities/${id}`, { token: other.token })).status).toBe(404);
    expect(
      (await s.request('PATCH', `/api/v1/capabilities/${id}`, { token: other.token, body: { description: 'x' } }))
        .status,
    ).toBe(404);
    expect((await post('/api/v1/capabilities', { name: 'v', task_type: 'transform' }, viewer.token)).status).toBe(403);

    const reshape = onlyMine.body.items[1].id;
    expect((await s.request('DELETE', `/api/v1/capabilities/${reshape}`, { token: op.token })).status).toBe(204);
    expect((await s.request('GET', `/api/v1/capabilities/${reshape}`, { token: op.token })).status).toBe(404);
  });

  it('manages agents and refuses capabilities and collections the owner cannot use', async () => {
    const theirCap = await post('/api/v1/capabilities', { name: 'their-cap', task_type: 'transform' }, other.token);
    const res = await post('/api/v1/agents', {
      name: 'triage-bot',
      model: 'openai/gpt-4o-mini',
      system_prompt: 'You triage issues.',
      temperature: 0.2,
      max_tokens: 512,
      capabilities: ['read-notes', 'system:transform', 'itest.chat'],
      nft: {
        collection: 'Clarion Agents',
        token_id: '42',
        contract_address: '0xabc',
        image_url: 'https://x.test/42.png',
      },
    });
    expect(res.status).toBe(201);
    const notes = (await s.request('GET', '/api/v1/capabilities/read-notes', { token: op.token })).body.id;
    expect(res.body).toMatchObject({
      status: 'idle',
      temperature: 0.2,
      max_tokens: 512,
      capabilities: [notes, 'system:transform', 'system:itest.chat'],
      memory_collections: [],
      nft: { token_id: '42' },
    });
    const id = res.body.id;

    const refused = await post('/api/v1/agents', {
      name: 'x',
      model: 'm',
      capabilities: ['transform', theirCap.body.id],
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: '/capabilities/1' } });
    const noColl = await post('/api/v1/agents', { name: 'x', model: 'm', memory_collections: ['no-such-collection'] });
    expect(noColl.status).toBe(400);
    expect(noColl.body.error.details.field).toBe('/memory_collections/0');
    const badTemp = await post('/api/v1/agents', { name: 'x', model: 'm', temperature: 3 });
    expect(badTemp.body.error.details.field).toBe('body/temperature');
    for (const field of ['id', 'owner_id', 'system', 'created_at']) {
      const r = await post('/api/v1/agents', { name: 'mass', model: 'm', [field]: 'x' });
      expect(r.status).toBe(400);
      expect(r.body.error.details.field).toBe(`body/${field}`);
    }
    const dup = await post('/api/v1/agents', { name: 'triage-bot', model: 'm' });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'AGENT_EXISTS', details: { field: 'name' } });

    // A capability in use cannot be deleted.
    const inUse = await s.request('DELETE', `/api/v1/capabilities/${notes}`, { token: op.token });
    expect(inUse.status).toBe(409);
    expect(inUse.body.error).toMatchObject({ code: 'CAPABILITY_IN_USE', details: { agents: ['triage-bot'] } });

    await post('/api/v1/agents', { name: 'alpha', model: 'm', status: 'paused' });
    await post('/api/v1/agents', { name: 'beta', model: 'm', capabilities: ['read-notes'] });
    const list = async (q: string) =>
      (await s.request('GET', `/api/v1/agents?${q}`, { token: op.token })).body.items.map(
        (a: { name: string }) => a.name,
      );
    expect(await list('sort=name&order=asc')).toEqual(['alpha', 'beta', 'triage-bot'].sort());
    expect(await list('sort=name&order=desc&limit=1')).toHaveLength(1);
    expect(await list('status=paused')).toEqual(['alpha']);
    expect(await list('q=TRIAGE')).toEqual(['triage-bot']);
    expect(await list('capability=read-notes&sort=name')).toEqual(['triage-bot', 'beta'].sort());
    expect(await list('capability=no-such')).toEqual([]);
    const page1 = await s.request('GET', '/api/v1/agents?sort=created_at&order=asc&limit=2', { token: op.token });
    const page2 = await s.request(
      'GET',
      `/api/v1/agents?sort=created_at&order=asc&limit=2&cursor=${page1.body.next_cursor}`,
      { token: op.token },
    );
    expect([...page1.body.items, ...page2.body.items].map((a: { name: string }) => a.name)).toEqual([
      'triage-bot',
      'alpha',
      'beta',
    ]);

    const patched = await s.request('PATCH', `/api/v1/agents/${id}`, {
      token: op.token,
      body: { status: 'active', temperature: null, nft: null },
    });
    expect(patched.body).toMatchObject({ status: 'active', temperature: null, nft: null, max_tokens: 512 });
    const put = await s.request('PUT', `/api/v1/agents/${id}`, {
      token: op.token,
      body: { name: 'triage-bot', model: 'gpt-4o' },
    });
    expect(put.body).toMatchObject({ model: 'gpt-4o', capabilities: [], system_prompt: '', status: 'idle' });
    expect((await s.app.services.agents.getForRun(op.id, 'triage-bot')).id).toBe(id);
    await expect(s.app.services.agents.getForRun(other.id, id)).rejects.toMatchObject({ code: 'AGENT_NOT_FOUND' });

    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { status: 'paused' }],
      ['PUT', { name: 'y', model: 'm' }],
      ['DELETE', undefined],
    ] as const) {
      const r = await s.request(method, `/api/v1/agents/${id}`, { token: other.token, ...(body ? { body } : {}) });
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('AGENT_NOT_FOUND');
    }
    expect((await s.request('GET', '/api/v1/agents', { token: other.token })).body.items).toEqual([]);
    expect((await s.request('GET', '/api/v1/agents', { token: viewer.token })).status).toBe(200);
    expect((await post('/api/v1/agents', { name: 'v', model: 'm' }, viewer.token)).status).toBe(403);
    expect((await s.request('DELETE', `/api/v1/agents/${id}`, { token: viewer.token })).status).toBe(403);
    expect((await s.request('DELETE', `/api/v1/agents/${id}`, { token: op.token })).status).toBe(204);
  });

  it('accepts memory collections the owner has', async () => {
    const now = new Date().toISOString();
    await s.app.database.db
      .insertInto('memory_collections')
      .values({
        id: 'coll-1',
        owner_id: op.id,
        name: 'handbook',
        description: '',
        metadata: '{}',
        embedder: 'lexical',
        model: null,
        dimensions: null,
        chunk_size: 500,
        chunk_overlap: 50,
        version: 0,
        created_at: now,
        updated_at: now,
      } as never)
      .execute();
    const ok = await post('/api/v1/agents', { name: 'reader', model: 'm', memory_collections: ['handbook', 'coll-1'] });
    expect(ok.status).toBe(201);
    expect(ok.body.memory_collections).toEqual(['handbook', 'coll-1']);
    const theirs = await post(
      '/api/v1/agents',
      { name: 'reader', model: 'm', memory_collections: ['handbook'] },
      other.token,
    );
    expect(theirs.status).toBe(400);
  });

  it('checks agent × capability × target compatibility and says why not', async () => {
    await post('/api/v1/agents', { name: 'tool-user', model: 'm', capabilities: ['read-notes'] });
    await post('/api/v1/agents', { name: 'no-tools', model: 'm' });
    const check = async (body: Record<string, string>, token = op.token) =>
      (await post('/api/v1/capabilities/check', body, token)).body;

    expect(await check({ capability: 'read-notes', agent: 'tool-user', target: 'files' })).toEqual({ ok: true });
    expect(await check({ capability: 'read-notes', agent: 'tool-user', target: fsTarget })).toEqual({ ok: true });
    expect(await check({ capability: 'read-notes', agent: 'tool-user', target: shellTarget })).toMatchObject({
      ok: false,
      code: 'TARGET_TYPE_MISMATCH',
    });
    expect(await check({ capability: 'read-notes', agent: 'tool-user' })).toMatchObject({
      ok: false,
      code: 'TARGET_REQUIRED',
    });
    expect(await check({ capability: 'read-notes', agent: 'no-tools', target: 'files' })).toMatchObject({
      ok: false,
      code: 'CAPABILITY_NOT_GRANTED',
    });
    expect(await check({ capability: 'itest.chat' })).toMatchObject({ ok: false, code: 'AGENT_REQUIRED' });
    expect(await check({ capability: 'itest.chat', agent: 'no-tools' })).toEqual({ ok: true });
    expect(await check({ capability: 'transform' })).toEqual({ ok: true });
    // Another user's references are unknown, not forbidden.
    const asOther = await check({ capability: 'read-notes', agent: 'tool-user', target: 'files' }, other.token);
    expect(asOther).toMatchObject({ ok: false, code: 'CAPABILITY_NOT_FOUND' });
    expect(await check({ capability: 'transform', agent: 'tool-user' }, other.token)).toMatchObject({
      code: 'AGENT_NOT_FOUND',
    });
    expect(await check({ capability: 'system:itest.file_probe', target: 'files' }, other.token)).toMatchObject({
      code: 'TARGET_NOT_FOUND',
    });
    expect((await post('/api/v1/capabilities/check', { capability: 'transform', owner_id: 'x' })).status).toBe(400);
  });
});
