import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlmService } from '../../src/llm/llm.service.js';
import { testDialects } from '../helpers/databases.js';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const CANARY = 'sk-config-canary-4e8b2a7c9d1f3e5a';

/** Providers, aliases and prices written in clarion.yaml, served next to those made over the API. */
describe.each(testDialects())('LLM providers, aliases and prices from clarion.yaml on %s', (dialect) => {
  let s: TestServer;
  let up: FakeLlm;
  let up2: FakeLlm;
  let dir: string;
  let apiKey: string;

  const chat = (model: string, content = 'hello') =>
    s.request('POST', '/v1/chat/completions', {
      token: apiKey,
      body: { model, messages: [{ role: 'user', content }] },
    });
  const get = (p: string) => s.request('GET', p, { token: s.admin.token });
  const providerNamed = async (name: string) =>
    ((await get('/api/v1/providers')).body.items as { name: string }[]).filter((p) => p.name === name);

  beforeAll(async () => {
    up = await startFakeLlm({ apiKey: CANARY });
    up2 = await startFakeLlm();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-llm-yaml-'));
    const file = path.join(dir, 'clarion.yaml');
    fs.writeFileSync(
      file,
      `
llm_autodetect: false
llm_retry_base: 5ms
llm_providers:
  - name: cfg
    kind: openai
    base_url: ${up.url}/v1/
    api_key_env: CFG_OPENAI_KEY
    models: [gpt-4o-mini]
  - name: cfg-off
    kind: openai
    base_url: ${up.url}/v1
    api_key_env: CFG_OPENAI_KEY
    models: [gpt-4o]
    enabled: false
  - name: cfg-anthropic
    kind: anthropic
    base_url: ${up.url}
    api_key: ${CANARY}
llm_aliases:
  cfg-fast:
    strategy: fallback
    deployments:
      - { provider: cfg-off, model: gpt-4o }
      - { provider: cfg, model: gpt-4o-mini }
llm_prices:
  gpt-4o-mini: { input_per_mtok: 1000, output_per_mtok: 2000 }
`,
    );
    // Debug logs too: the leak check at the end reads every line.
    s = await startTestServer({
      dialect,
      configFile: file,
      env: { CFG_OPENAI_KEY: CANARY },
      config: { log_level: 'debug' },
    });
    const k = await s.request('POST', '/api/v1/api-keys', { token: s.admin.token, body: { name: 'cfg-gw' } });
    apiKey = k.body.key;
  });
  afterAll(async () => {
    await s?.close();
    await up?.close();
    await up2?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists configured providers as source config, with no key, and refuses to change them', async () => {
    const listed = await get('/api/v1/providers');
    expect(listed.status).toBe(200);
    const cfg = listed.body.items.find((p: { name: string }) => p.name === 'cfg');
    expect(cfg).toEqual({
      id: 'config:cfg',
      name: 'cfg',
      kind: 'openai',
      base_url: `${up.url}/v1`,
      api_key_set: true,
      models: ['gpt-4o-mini'],
      enabled: true,
      source: 'config',
      created_by: null,
      created_at: null,
      updated_at: null,
    });
    expect(listed.body.items.find((p: { name: string }) => p.name === 'cfg-off')).toMatchObject({
      source: 'config',
      enabled: false,
    });
    expect(listed.text).not.toContain(CANARY);
    expect(listed.text).not.toContain('api_key"');

    const one = await get('/api/v1/providers/config:cfg');
    expect(one.status, one.text).toBe(200);
    expect(one.body.source).toBe('config');

    const patched = await s.request('PATCH', '/api/v1/providers/config:cfg', {
      token: s.admin.token,
      body: { enabled: false },
    });
    expect(patched.status, patched.text).toBe(409);
    expect(patched.body.error.code).toBe('PROVIDER_READ_ONLY');
    const deleted = await s.request('DELETE', '/api/v1/providers/config:cfg', { token: s.admin.token });
    expect(deleted.status).toBe(409);
    expect(deleted.body.error.code).toBe('PROVIDER_READ_ONLY');
    expect(await providerNamed('cfg')).toHaveLength(1);

    const tested = await s.request('POST', '/api/v1/providers/config:cfg/test', { token: s.admin.token });
    expect(tested.body).toMatchObject({ provider: 'cfg', healthy: true });
  });

  it('answers through a configured provider with its key, by provider/model, alias and bare name', async () => {
    up.reset();
    const direct = await chat('cfg/gpt-4o-mini');
    expect(direct.status, direct.text).toBe(200);
    expect(direct.body.choices[0].message.content).toBe('echo: hello');
    expect(direct.headers.get('x-clarion-provider')).toBe('cfg');
    expect(up.calls.at(-1)?.headers.authorization).toBe(`Bearer ${CANARY}`);

    // The alias's first deployment is on a disabled provider: the enabled one answers.
    const viaAlias = await chat('cfg-fast', 'alias');
    expect(viaAlias.status, viaAlias.text).toBe(200);
    expect(viaAlias.headers.get('x-clarion-provider')).toBe('cfg');

    const bare = await chat('gpt-4o-mini', 'bare');
    expect(bare.status, bare.text).toBe(200);
    expect(bare.headers.get('x-clarion-provider')).toBe('cfg');

    const anthropic = await chat('cfg-anthropic/claude-3-5-haiku-latest', 'claude');
    expect(anthropic.status, anthropic.text).toBe(200);
    expect(anthropic.body.choices[0].message.content).toBe('echo: claude');
    expect(up.calls.at(-1)?.headers['x-api-key']).toBe(CANARY);

    const disabled = await chat('cfg-off/gpt-4o');
    expect(disabled.status).toBe(404);
    expect(disabled.body.error.code).toBe('MODEL_NOT_FOUND');

    // Cost comes from the configured price.
    const usage = await get('/api/v1/usage?limit=10');
    const row = usage.body.items.find((u: { provider: string; model: string }) => u.provider === 'cfg');
    expect(row.prompt_tokens).toBeGreaterThan(0);
    expect(row.cost).toBeCloseTo((row.prompt_tokens * 1000 + row.completion_tokens * 2000) / 1e6, 6);
  });

  it('takes part in /v1/models and model discovery like stored providers', async () => {
    const known = await s.request('GET', '/v1/models', { token: apiKey });
    const ids = known.body.data.map((m: { id: string }) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['cfg-fast', 'cfg/gpt-4o-mini']));
    expect(ids).not.toContain('cfg-off/gpt-4o');

    const models = await get('/api/v1/models');
    expect(models.status).toBe(200);
    expect(models.body.aliases).toContain('cfg-fast');
    expect(models.body.items).toContainEqual(
      expect.objectContaining({ id: 'cfg/llama3.2', provider: 'cfg', healthy: true }),
    );
    expect(models.body.items.some((m: { provider: string }) => m.provider === 'cfg-off')).toBe(false);
    // A model only discovery found is now routed to the configured provider.
    const discovered = await chat('llama3.2', 'found');
    expect(discovered.status, discovered.text).toBe(200);
    expect(discovered.headers.get('x-clarion-provider')).toBe('cfg');
  });

  it('shows configured aliases and prices; a stored one of the same name wins, deleting it restores the file', async () => {
    const aliases = await get('/api/v1/model-aliases');
    expect(aliases.body.items.find((a: { alias: string }) => a.alias === 'cfg-fast')).toMatchObject({
      source: 'config',
      strategy: 'fallback',
      updated_by: null,
      deployments: [
        { provider: 'cfg-off', model: 'gpt-4o' },
        { provider: 'cfg', model: 'gpt-4o-mini' },
      ],
    });
    const refused = await s.request('DELETE', '/api/v1/model-aliases/cfg-fast', { token: s.admin.token });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('ALIAS_READ_ONLY');

    const put = await s.request('PUT', '/api/v1/model-aliases/cfg-fast', {
      token: s.admin.token,
      body: { deployments: [{ provider: 'cfg-anthropic', model: 'claude-3-5-haiku-latest' }] },
    });
    expect(put.status, put.text).toBe(200);
    expect(put.body.source).toBe('api');
    expect((await chat('cfg-fast', 'stored alias')).headers.get('x-clarion-provider')).toBe('cfg-anthropic');
    expect((await s.request('DELETE', '/api/v1/model-aliases/cfg-fast', { token: s.admin.token })).status).toBe(204);
    expect((await chat('cfg-fast', 'file alias')).headers.get('x-clarion-provider')).toBe('cfg');

    const priceOf = async () =>
      (await get('/api/v1/model-prices')).body.items.find((p: { model: string }) => p.model === 'gpt-4o-mini');
    // The built-in context window stays when the file gives none.
    expect(await priceOf()).toEqual({
      model: 'gpt-4o-mini',
      input_per_mtok: 1000,
      output_per_mtok: 2000,
      context_window: 128000,
      source: 'config',
    });
    const priceRefused = await s.request('DELETE', '/api/v1/model-prices/gpt-4o-mini', { token: s.admin.token });
    expect(priceRefused.status).toBe(409);
    expect(priceRefused.body.error.code).toBe('PRICE_READ_ONLY');
    const overridden = await s.request('PUT', '/api/v1/model-prices/gpt-4o-mini', {
      token: s.admin.token,
      body: { input_per_mtok: 1, output_per_mtok: 2 },
    });
    expect(overridden.body).toMatchObject({ input_per_mtok: 1, source: 'override', context_window: 128000 });
    expect((await s.request('DELETE', '/api/v1/model-prices/gpt-4o-mini', { token: s.admin.token })).status).toBe(204);
    expect(await priceOf()).toMatchObject({ input_per_mtok: 1000, source: 'config' });

    // A dated name no table lists exactly, priced without a window: the list and the answer show the window chat
    // applies to it (gpt-4o-mini's, by prefix), not null.
    const dated = await s.request('PUT', '/api/v1/model-prices/gpt-4o-mini-2024-07-18', {
      token: s.admin.token,
      body: { input_per_mtok: 0.15, output_per_mtok: 0.6 },
    });
    expect(dated.status, dated.text).toBe(200);
    expect(dated.body).toMatchObject({ model: 'gpt-4o-mini-2024-07-18', context_window: 128000, source: 'override' });
    const listed = (await get('/api/v1/model-prices')).body.items.find(
      (p: { model: string }) => p.model === 'gpt-4o-mini-2024-07-18',
    );
    expect(listed).toMatchObject({ input_per_mtok: 0.15, context_window: 128000, source: 'override' });
    await s.request('DELETE', '/api/v1/model-prices/gpt-4o-mini-2024-07-18', { token: s.admin.token });
  });

  it('lets a provider stored over the API hide a configured one of the same name until it is deleted', async () => {
    const created = await s.request('POST', '/api/v1/providers', {
      token: s.admin.token,
      body: { name: 'cfg', kind: 'openai', base_url: `${up2.url}/v1`, models: ['gpt-4o-mini'] },
    });
    expect(created.status, created.text).toBe(201);
    expect(await providerNamed('cfg')).toEqual([expect.objectContaining({ id: created.body.id, source: 'api' })]);
    up2.reset();
    expect((await chat('cfg/gpt-4o-mini', 'stored')).status).toBe(200);
    expect(up2.callsTo('/v1/chat/completions')).toHaveLength(1);
    expect(s.logs.some((l) => l.includes('hides the configured one'))).toBe(true);

    const removed = await s.request('DELETE', `/api/v1/providers/${created.body.id}`, { token: s.admin.token });
    expect(removed.status).toBe(204);
    expect(await providerNamed('cfg')).toEqual([expect.objectContaining({ id: 'config:cfg', source: 'config' })]);
    up.reset();
    expect((await chat('cfg/gpt-4o-mini', 'config again')).status).toBe(200);
    expect(up.calls.at(-1)?.headers.authorization).toBe(`Bearer ${CANARY}`);
  });

  it('wins over a provider of the same name offered from the environment', async () => {
    const llm = new LlmService({
      db: s.app.database.db,
      config: {
        ...s.app.config,
        llm_autodetect: true,
        llm_providers: [
          {
            name: 'openai',
            kind: 'openai',
            base_url: `${up.url}/v1`,
            api_key: CANARY,
            models: ['gpt-4o-mini'],
            enabled: true,
          },
        ],
      },
      secrets: s.app.secrets,
      logger: s.app.logger,
      env: { OPENAI_API_KEY: 'sk-from-the-environment', OPENAI_BASE_URL: `${up2.url}/v1`, OLLAMA_HOST: '127.0.0.1:9' },
    });
    await llm.start();
    try {
      const openai = llm.registry.listProviders().filter((p) => p.name === 'openai');
      expect(openai).toEqual([expect.objectContaining({ source: 'config', base_url: `${up.url}/v1` })]);
      up.reset();
      up2.reset();
      const answer = await llm.chat(
        { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'which' }] },
        { userId: 'cfg-user' },
      );
      expect(answer.choices[0]?.message.content).toBe('echo: which');
      // Discovery runs in the background: look at the chat call only.
      expect(up.callsTo('/v1/chat/completions').at(-1)?.headers.authorization).toBe(`Bearer ${CANARY}`);
      expect(up2.calls).toHaveLength(0);
    } finally {
      await llm.stop();
    }
  });

  it('never returns or logs a configured key', () => {
    for (const text of [...s.responses, ...s.logs]) expect(text).not.toContain(CANARY);
  });
});
