import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import type { DispatcherSource } from '../net/undici.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { contextWindowOf } from './context-manager.js';
import type { LlmRepository } from './llm.repository.js';
import type { ModelPricesTable } from './llm.tables.js';
import { builtinPrices, costOf, lookupPrice, type PriceEntry } from './prices.js';
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
      expect(contextWindowOf(model)).toBe(contextWindowOf('no-such-model'));
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
