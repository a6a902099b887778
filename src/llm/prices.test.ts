import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import type { DispatcherSource } from '../net/undici.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { LlmRepository } from './llm.repository.js';
import type { ModelPricesTable } from './llm.tables.js';
import { builtinPrices, costOf, DEFAULT_CONTEXT_WINDOW, lookupPrice, type PriceEntry } from './prices.js';
import { ProviderRegistry } from './provider-registry.js';

// Names a plain object answers from Object.prototype: a price table must not.
const prototypeNames = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];
const price: PriceEntry = { input_per_mtok: 1, output_per_mtok: 2, context_window: 4096 };

describe('price lookup', () => {
  it('finds exact names and the longest built-in prefix', () => {
    expect(lookupPrice('gpt-4o', builtinPrices)?.input_per_mtok).toBe(2.5);
    expect(lookupPrice('gpt-4o-mini-2024-07-18', builtinPrices)?.input_per_mtok).toBe(0.15);
    expect(lookupPrice('no-such-model', builtinPrices)).toBeUndefined();
    expect(costOf(lookupPrice('no-such-model', builtinPrices), 1000, 1000)).toBe(0);
  });

  it('prices a model named like an Object.prototype key as unknown (0), not NaN', () => {
    for (const model of prototypeNames) {
      expect(lookupPrice(model, builtinPrices)).toBeUndefined();
      expect(costOf(lookupPrice(model, builtinPrices), 1000, 1000)).toBe(0);
      expect(lookupPrice(`${model}-2025`, builtinPrices)).toBeUndefined();
    }
  });

  it('uses a price set for such a name', () => {
    const table = new Map([...builtinPrices, ...prototypeNames.map((m): [string, PriceEntry] => [m, price])]);
    for (const model of prototypeNames) {
      expect(lookupPrice(model, table)).toBe(price);
      expect(costOf(lookupPrice(model, table), 1_000_000, 1_000_000)).toBe(3);
    }
  });
});

/** The registry over an in-memory repository: no providers or aliases, prices stored as rows. */
function registry(): ProviderRegistry {
  const rows = new Map<string, ModelPricesTable>();
  const repo = {
    listProviders: () => Promise.resolve([]),
    listAliases: () => Promise.resolve([]),
    listPrices: () => Promise.resolve([...rows.values()]),
    upsertPrice: (_db: Db, row: ModelPricesTable) => Promise.resolve(void rows.set(row.model, row)),
    deletePrice: (_db: Db, model: string) => Promise.resolve(rows.delete(model)),
  } as unknown as LlmRepository;
  const logger = { warn: () => {}, error: () => {} } as unknown as Logger;
  return new ProviderRegistry({} as Db, repo, {} as SecretBox, {} as DispatcherSource, logger);
}

describe('ProviderRegistry prices', () => {
  const admin = { userId: 'u1' } as Principal;

  it('costs nothing for an unpriced model named constructor, toString or __proto__', async () => {
    const r = registry();
    await r.load();
    for (const model of prototypeNames) {
      expect(r.price(model, 'openai')).toBeUndefined();
      expect(costOf(r.price(model, 'openai'), 1000, 1000)).toBe(0);
    }
    expect(r.listPrices().map((p) => p.model)).not.toContain('constructor');
    for (const model of prototypeNames) expect(r.contextWindow(model)).toBe(DEFAULT_CONTEXT_WINDOW);
  });

  it('uses a configured or stored price for such a name, and lists it', async () => {
    const r = registry();
    r.useConfig({
      llm_providers: [],
      llm_aliases: {},
      llm_prices: Object.fromEntries([['constructor', { input_per_mtok: 1, output_per_mtok: 2 }]]),
    });
    await r.load();
    expect(costOf(r.price('constructor', 'openai'), 1_000_000, 1_000_000)).toBe(3);
    expect(costOf(r.price('toString', 'openai'), 1_000_000, 1_000_000)).toBe(0);

    // A stored override named __proto__ is a price like any other, not the table's prototype.
    const put = await r.putPrice(admin, '__proto__', { input_per_mtok: 4, output_per_mtok: 0 });
    expect(put).toMatchObject({ model: '__proto__', input_per_mtok: 4, source: 'override' });
    expect(costOf(r.price('__proto__', 'openai'), 1_000_000, 0)).toBe(4);
    expect(r.price('input_per_mtok', 'openai')).toBeUndefined();
    expect(r.listPrices().filter((p) => prototypeNames.includes(p.model))).toEqual([
      expect.objectContaining({ model: '__proto__', source: 'override' }),
      expect.objectContaining({ model: 'constructor', source: 'config', context_window: null }),
    ]);
    await r.deletePrice('__proto__');
    expect(r.price('__proto__', 'openai')).toBeUndefined();
  });
});

describe('ProviderRegistry context windows', () => {
  const admin = { userId: 'u1' } as Principal;
  const fake = (name: string, enabled = true) =>
    ({ name, kind: 'openai', base_url: 'http://127.0.0.1:1/v1', models: [], enabled }) as const;
  const configured = () => {
    const r = registry();
    r.useConfig({
      llm_providers: [fake('a'), fake('b'), fake('off', false)],
      llm_aliases: {
        // The first deployment has the larger window.
        mixed: {
          strategy: 'fallback',
          deployments: [
            { provider: 'a', model: 'gpt-4o' },
            { provider: 'b', model: 'my-finetune' },
          ],
        },
        // A disabled provider's deployment is never routed to, so its window does not count.
        'skips-disabled': {
          strategy: 'fallback',
          deployments: [
            { provider: 'a', model: 'gpt-4o' },
            { provider: 'off', model: 'gpt-3.5-turbo' },
          ],
        },
        delegating: { strategy: 'fallback', deployments: [], delegate: { try: 'a/gpt-4o', escalate_to: 'mixed' } },
      },
      llm_prices: {
        'my-finetune': { input_per_mtok: 1, output_per_mtok: 2, context_window: 32_000 },
        // Priced without a window: the built-in one of gpt-4o-mini still applies.
        'gpt-4o-mini-2024-07-18': { input_per_mtok: 0.2, output_per_mtok: 0.8 },
        'claude-3-5-haiku': { input_per_mtok: 0.8, output_per_mtok: 4, context_window: 50_000 },
      },
    });
    return r;
  };

  it('reads built-in windows, bare or with a provider prefix, and a default for an unknown model', async () => {
    const r = registry();
    await r.load();
    expect(r.contextWindow('gpt-4o-mini')).toBe(128_000);
    expect(r.contextWindow('openai/gpt-4o-mini')).toBe(128_000);
    expect(r.contextWindow('claude-3-5-haiku-20241022')).toBe(200_000);
    expect(r.contextWindow('mystery')).toBe(DEFAULT_CONTEXT_WINDOW);
    expect(r.contextWindow('some/mystery')).toBe(DEFAULT_CONTEXT_WINDOW);
  });

  it('takes a stored override over a configured window over the built-in one', async () => {
    const r = configured();
    await r.load();
    expect(r.contextWindow('claude-3-5-haiku-20241022')).toBe(50_000);
    expect(r.contextWindow('b/my-finetune')).toBe(32_000);
    expect(r.contextWindow('gpt-4o-mini-2024-07-18')).toBe(128_000);

    await r.putPrice(admin, 'claude-3-5-haiku', { input_per_mtok: 1, output_per_mtok: 5, context_window: 4000 });
    expect(r.contextWindow('claude-3-5-haiku-20241022')).toBe(4000);
    await r.putPrice(admin, 'gpt-4o', { input_per_mtok: 2.5, output_per_mtok: 10, context_window: 16_000 });
    expect(r.contextWindow('gpt-4o')).toBe(16_000);
    expect(r.contextWindow('gpt-4o-mini')).toBe(128_000);
    // An override without a window keeps the configured one.
    await r.putPrice(admin, 'my-finetune', { input_per_mtok: 3, output_per_mtok: 4 });
    expect(r.contextWindow('my-finetune')).toBe(32_000);

    await r.deletePrice('claude-3-5-haiku');
    expect(r.contextWindow('claude-3-5-haiku-20241022')).toBe(50_000);
  });

  it('gives an alias the smallest window of the deployments it may route to', async () => {
    const r = configured();
    await r.load();
    expect(r.contextWindow('mixed')).toBe(32_000);
    expect(r.contextWindow('skips-disabled')).toBe(128_000);
    expect(r.contextWindow('delegating')).toBe(32_000);
    await r.putPrice(admin, 'gpt-4o', { input_per_mtok: 2.5, output_per_mtok: 10, context_window: 2000 });
    expect(r.contextWindow('mixed')).toBe(2000);
    expect(r.contextWindow('delegating')).toBe(2000);
  });
});
