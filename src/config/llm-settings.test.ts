import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { providerKinds, routingStrategies } from '../llm/llm.js';
import { describeConfig, loadConfig } from './config.js';
import { errorOf } from './config-error.testing.js';
import { configProviderKinds, configRoutingStrategies } from './llm-settings.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-llm-config-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;

const KEY = 'sk-config-canary-93b1f0d2';

/** Loads a config whose file holds this YAML text. */
function fromYaml(text: string, env: NodeJS.ProcessEnv = {}) {
  const file = path.join(dir, `c${++n}.yaml`);
  fs.writeFileSync(file, text);
  return { file, load: () => loadConfig({ env, cwd: dir, file }) };
}

/** The error a YAML file with these providers gives, and the file's name. */
function providersError(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const { file, load } = fromYaml(`llm_providers:\n${yaml}`, env);
  return { file, err: errorOf(load) };
}

describe('llm_providers', () => {
  it('reads providers from the file, with defaults, normalised URLs and the key from api_key_env', () => {
    const { load } = fromYaml(
      `
llm_providers:
  - name: openai
    kind: openai
    api_key: ${KEY}
    models: [gpt-4o-mini, gpt-4o-mini, gpt-4o]
  - name: vllm
    kind: openai
    base_url: http://vllm.internal:8000/v1/
    api_key_env: VLLM_KEY
  - name: local
    kind: ollama
    enabled: false
`,
      { VLLM_KEY: 'vllm-secret' },
    );
    const c = load();
    expect(c.sources.llm_providers).toBe('file');
    expect(c.llm_providers).toEqual([
      {
        name: 'openai',
        kind: 'openai',
        base_url: 'https://api.openai.com/v1',
        api_key: KEY,
        models: ['gpt-4o-mini', 'gpt-4o'],
        enabled: true,
      },
      {
        name: 'vllm',
        kind: 'openai',
        base_url: 'http://vllm.internal:8000/v1',
        api_key: 'vllm-secret',
        api_key_env: 'VLLM_KEY',
        models: [],
        enabled: true,
      },
      { name: 'local', kind: 'ollama', base_url: 'http://127.0.0.1:11434', models: [], enabled: false },
    ]);
    expect(Object.isFrozen(c.llm_providers[0])).toBe(true);
    expect(Object.isFrozen(c.llm_providers[0]!.models)).toBe(true);
  });

  it('reads JSON from CLARION_LLM_PROVIDERS, which wins over the file; empty means none', () => {
    const { file } = fromYaml('llm_providers:\n  - { name: a, kind: openai }\n');
    const json = JSON.stringify([{ name: 'b', kind: 'anthropic', api_key: KEY }]);
    const c = loadConfig({ env: { CLARION_LLM_PROVIDERS: json }, cwd: dir, file });
    expect(c.sources.llm_providers).toBe('env');
    expect(c.llm_providers.map((p) => [p.name, p.base_url])).toEqual([['b', 'https://api.anthropic.com']]);
    expect(loadConfig({ env: { CLARION_LLM_PROVIDERS: '' }, cwd: dir }).llm_providers).toEqual([]);
    expect(loadConfig({ env: {}, cwd: dir }).llm_providers).toEqual([]);
  });

  it('names the key, index and field of a bad kind and says what is allowed', () => {
    const { file, err } = providersError('  - { name: a, kind: openai }\n  - { name: b, kind: openia }\n');
    expect(err.key).toBe(`${file}: llm_providers[1].kind`);
    expect(err.message).toBe(
      `Invalid configuration: ${file}: llm_providers[1].kind: must be one of openai, anthropic, ollama (got "openia")`,
    );
    const env = errorOf(() =>
      loadConfig({ env: { CLARION_LLM_PROVIDERS: '[{"name":"a","kind":"gemini"}]' }, cwd: dir }),
    );
    expect(env.key).toBe('CLARION_LLM_PROVIDERS[0].kind');
    expect(env.message).toContain('one of openai, anthropic, ollama');
  });

  it('refuses a missing or malformed name', () => {
    const missing = providersError('  - { kind: openai }\n');
    expect(missing.err.key).toBe(`${missing.file}: llm_providers[0].name`);
    expect(missing.err.message).toContain('must be given');
    const upper = providersError('  - { name: My OpenAI, kind: openai }\n');
    expect(upper.err.key).toBe(`${upper.file}: llm_providers[0].name`);
    expect(upper.err.message).toContain('lower-case letters');
  });

  it('refuses a bad URL, and never quotes one that may carry a credential', () => {
    for (const url of ['not a url', 'ftp://files.example/v1', 'https://api.example/v1?key=1']) {
      const { file, err } = providersError(`  - { name: a, kind: openai, base_url: "${url}" }\n`);
      expect(err.key).toBe(`${file}: llm_providers[0].base_url`);
    }
    expect(providersError('  - { name: a, kind: openai, base_url: "ftp://x" }\n').err.message).toContain(
      'must be an http(s) URL',
    );
    const creds = providersError(`  - { name: a, kind: openai, base_url: "https://u:${KEY}@api.example/v1" }\n`);
    expect(creds.err.key).toBe(`${creds.file}: llm_providers[0].base_url`);
    expect(creds.err.message).toContain('must not carry credentials');
    expect(creds.err.message).not.toContain(KEY);
  });

  it('refuses duplicate names, naming both entries', () => {
    const { file, err } = providersError(
      '  - { name: a, kind: openai }\n  - { name: b, kind: ollama }\n  - { name: a, kind: anthropic }\n',
    );
    expect(err.key).toBe(`${file}: llm_providers[2].name`);
    expect(err.message).toContain('must be unique ("a" is also the name of [0])');
  });

  it('refuses unknown fields, bad types, both key forms and an unset key variable', () => {
    const unknown = providersError('  - { name: a, kind: openai, apikey: x }\n');
    expect(unknown.err.key).toBe(`${unknown.file}: llm_providers[0].apikey`);
    expect(unknown.err.message).toContain('unknown field; known: name, kind, base_url, api_key, api_key_env');
    const both = providersError(`  - { name: a, kind: openai, api_key: ${KEY}, api_key_env: K }\n`, { K: 'x' });
    expect(both.err.key).toBe(`${both.file}: llm_providers[0].api_key_env`);
    const unset = providersError('  - { name: a, kind: openai, api_key_env: NO_SUCH_KEY }\n');
    expect(unset.err.key).toBe(`${unset.file}: llm_providers[0].api_key_env`);
    expect(unset.err.message).toContain('NO_SUCH_KEY, which is not set');
    expect(providersError('  - { name: a, kind: openai, enabled: maybe }\n').err.key).toMatch(/\[0\]\.enabled$/);
    expect(providersError('  - { name: a, kind: openai, models: gpt-4o }\n').err.key).toMatch(/\[0\]\.models$/);
    expect(providersError('  - { name: a, kind: openai, models: [""] }\n').err.key).toMatch(/\[0\]\.models\[0\]$/);
    expect(providersError('  - openai\n').err.key).toMatch(/llm_providers\[0\]$/);
    const notList = errorOf(fromYaml('llm_providers: { name: a }\n').load);
    expect(notList.key).toMatch(/: llm_providers$/);
    expect(notList.message).toContain('must be a list of providers');
  });

  it('never echoes a key in an error, nor JSON text that does not parse', () => {
    const badKey = providersError('  - { name: a, kind: openai, api_key: 12345 }\n');
    expect(badKey.err.key).toMatch(/\[0\]\.api_key$/);
    expect(badKey.err.message).not.toContain('12345');
    const broken = errorOf(() => loadConfig({ env: { CLARION_LLM_PROVIDERS: `[{"api_key":"${KEY}"` }, cwd: dir }));
    expect(broken.key).toBe('CLARION_LLM_PROVIDERS');
    expect(broken.message).toContain('not valid JSON');
    expect(broken.message).not.toContain(KEY);
    const typo = providersError(`  - { name: a, kind: opnai, api_key: ${KEY} }\n`);
    expect(typo.err.message).not.toContain(KEY);
  });

  it('is masked by clarion config: api_key only, the rest shown', () => {
    const { load } = fromYaml(
      `llm_providers:\n  - { name: a, kind: openai, api_key: ${KEY} }\n  - { name: b, kind: openai, api_key_env: K }\n  - { name: c, kind: ollama }\n`,
      { K: 'from-env-secret' },
    );
    const d = describeConfig(load());
    const text = JSON.stringify(d);
    expect(text).not.toContain(KEY);
    expect(text).not.toContain('from-env-secret');
    expect(d.llm_providers!.value).toEqual([
      {
        name: 'a',
        kind: 'openai',
        base_url: 'https://api.openai.com/v1',
        api_key: '********',
        models: [],
        enabled: true,
      },
      {
        name: 'b',
        kind: 'openai',
        base_url: 'https://api.openai.com/v1',
        api_key: '********',
        api_key_env: 'K',
        models: [],
        enabled: true,
      },
      { name: 'c', kind: 'ollama', base_url: 'http://127.0.0.1:11434', models: [], enabled: true },
    ]);
  });

  it('offers the kinds and strategies the LLM layer supports', () => {
    expect([...configProviderKinds]).toEqual([...providerKinds]);
    expect([...configRoutingStrategies]).toEqual([...routingStrategies]);
  });
});

describe('llm_aliases', () => {
  it('reads aliases with their deployments in order, strategy fallback by default', () => {
    const c = fromYaml(`
llm_aliases:
  fast:
    strategy: round_robin
    deployments:
      - { provider: openai, model: gpt-4o-mini, weight: 3, rpm: 500 }
      - { provider: local, model: llama3.2 }
  smart:
    deployments: [{ provider: anthropic, model: claude-sonnet-4 }]
  cheap-first:
    deployments: []
    delegate: { try: fast, escalate_to: smart, check: { cel: "json != null" } }
`).load();
    expect(c.llm_aliases).toEqual({
      fast: {
        strategy: 'round_robin',
        deployments: [
          { provider: 'openai', model: 'gpt-4o-mini', weight: 3, rpm: 500 },
          { provider: 'local', model: 'llama3.2' },
        ],
      },
      smart: { strategy: 'fallback', deployments: [{ provider: 'anthropic', model: 'claude-sonnet-4' }] },
      'cheap-first': {
        strategy: 'fallback',
        deployments: [],
        delegate: { try: 'fast', escalate_to: 'smart', check: { cel: 'json != null' } },
      },
    });
    const env = loadConfig({
      env: { CLARION_LLM_ALIASES: '{"x":{"deployments":[{"provider":"p","model":"m"}]}}' },
      cwd: dir,
    });
    expect(env.llm_aliases.x!.deployments).toEqual([{ provider: 'p', model: 'm' }]);
  });

  it('names the alias, index and field that is wrong', () => {
    const cases: [string, RegExp, string][] = [
      [
        '  fast: { strategy: fastest, deployments: [{ provider: a, model: m }] }\n',
        /llm_aliases\.fast\.strategy$/,
        'one of fallback, round_robin',
      ],
      [
        '  fast: { deployments: [{ provider: a, model: m }, { model: m }] }\n',
        /llm_aliases\.fast\.deployments\[1\]\.provider$/,
        'must be given',
      ],
      [
        '  fast: { deployments: [{ provider: a, model: m, weight: 0 }] }\n',
        /\.deployments\[0\]\.weight$/,
        'an integer from 1 to 1000',
      ],
      ['  fast: { deployments: [] }\n', /llm_aliases\.fast\.deployments$/, 'at least one deployment'],
      ['  fast: { deployment: [] }\n', /llm_aliases\.fast\.deployment$/, 'unknown field'],
      ['  "bad name": { deployments: [{ provider: a, model: m }] }\n', /llm_aliases\["bad name"\]$/, 'letters, digits'],
      [
        '  fast: { deployments: [], delegate: { try: a, escalate_to: b, check: { cel: "1 +" } } }\n',
        /\.delegate\.check\.cel$/,
        'CEL',
      ],
      [
        '  fast: { deployments: [], delegate: { try: fast, escalate_to: b } }\n',
        /\.delegate\.try$/,
        'the alias itself',
      ],
    ];
    for (const [yaml, key, message] of cases) {
      const err = errorOf(fromYaml(`llm_aliases:\n${yaml}`).load);
      expect(err.key, yaml).toMatch(key);
      expect(err.message, yaml).toContain(message);
    }
  });
});

describe('llm_prices', () => {
  it('reads price overrides per model', () => {
    const c = fromYaml(`
llm_prices:
  gpt-4o-mini: { input_per_mtok: 0.1, output_per_mtok: 0.4 }
  my-finetune: { input_per_mtok: 1, output_per_mtok: 2, context_window: 32000 }
`).load();
    expect(c.llm_prices).toEqual({
      'gpt-4o-mini': { input_per_mtok: 0.1, output_per_mtok: 0.4 },
      'my-finetune': { input_per_mtok: 1, output_per_mtok: 2, context_window: 32000 },
    });
    const env = loadConfig({ env: { CLARION_LLM_PRICES: '{"m":{"input_per_mtok":0,"output_per_mtok":0}}' }, cwd: dir });
    expect(env.llm_prices.m).toEqual({ input_per_mtok: 0, output_per_mtok: 0 });
  });

  it('names the model and field that is wrong', () => {
    const neg = errorOf(fromYaml('llm_prices:\n  gpt-4o: { input_per_mtok: -1, output_per_mtok: 1 }\n').load);
    expect(neg.key).toMatch(/: llm_prices\.gpt-4o\.input_per_mtok$/);
    expect(neg.message).toContain('a number from 0 to 100000 (got -1)');
    const missing = errorOf(fromYaml('llm_prices:\n  "org/model.v2": { input_per_mtok: 1 }\n').load);
    expect(missing.key).toMatch(/: llm_prices\["org\/model\.v2"\]\.output_per_mtok$/);
    const window = errorOf(
      fromYaml('llm_prices:\n  m: { input_per_mtok: 1, output_per_mtok: 1, context_window: 1.5 }\n').load,
    );
    expect(window.key).toMatch(/llm_prices\.m\.context_window$/);
  });
});
