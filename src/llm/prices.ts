/** Price and window of a model: USD per million tokens in and out, and the context window in tokens. */
export interface PriceEntry {
  input_per_mtok: number;
  output_per_mtok: number;
  context_window: number | null;
}

/**
 * A price table by model name. A Map, not a plain object: a model may be named `constructor`,
 * `toString` or `__proto__`, which a plain object answers from Object.prototype (a NaN cost).
 */
export type PriceTable = ReadonlyMap<string, PriceEntry>;

/**
 * Built-in list prices (USD per 1M tokens) and context windows. Overridden per model by `llm_prices` in the
 * configuration and through `PUT /api/v1/model-prices/:model`; read them through ProviderRegistry (`price`,
 * `contextWindow`), which applies the overrides. Local models (Ollama) cost nothing.
 */
const builtinList: Record<string, PriceEntry> = {
  'gpt-4o': { input_per_mtok: 2.5, output_per_mtok: 10, context_window: 128_000 },
  'gpt-4o-mini': { input_per_mtok: 0.15, output_per_mtok: 0.6, context_window: 128_000 },
  'gpt-4.1': { input_per_mtok: 2, output_per_mtok: 8, context_window: 1_047_576 },
  'gpt-4.1-mini': { input_per_mtok: 0.4, output_per_mtok: 1.6, context_window: 1_047_576 },
  'gpt-4.1-nano': { input_per_mtok: 0.1, output_per_mtok: 0.4, context_window: 1_047_576 },
  'gpt-5': { input_per_mtok: 1.25, output_per_mtok: 10, context_window: 400_000 },
  'gpt-5-mini': { input_per_mtok: 0.25, output_per_mtok: 2, context_window: 400_000 },
  'gpt-5-nano': { input_per_mtok: 0.05, output_per_mtok: 0.4, context_window: 400_000 },
  o3: { input_per_mtok: 2, output_per_mtok: 8, context_window: 200_000 },
  'o4-mini': { input_per_mtok: 1.1, output_per_mtok: 4.4, context_window: 200_000 },
  'gpt-4-turbo': { input_per_mtok: 10, output_per_mtok: 30, context_window: 128_000 },
  'gpt-3.5-turbo': { input_per_mtok: 0.5, output_per_mtok: 1.5, context_window: 16_385 },
  'text-embedding-3-small': { input_per_mtok: 0.02, output_per_mtok: 0, context_window: 8191 },
  'text-embedding-3-large': { input_per_mtok: 0.13, output_per_mtok: 0, context_window: 8191 },
  'text-embedding-ada-002': { input_per_mtok: 0.1, output_per_mtok: 0, context_window: 8191 },
  'claude-opus-4': { input_per_mtok: 15, output_per_mtok: 75, context_window: 200_000 },
  'claude-sonnet-4': { input_per_mtok: 3, output_per_mtok: 15, context_window: 200_000 },
  'claude-3-7-sonnet': { input_per_mtok: 3, output_per_mtok: 15, context_window: 200_000 },
  'claude-3-5-sonnet': { input_per_mtok: 3, output_per_mtok: 15, context_window: 200_000 },
  'claude-3-5-haiku': { input_per_mtok: 0.8, output_per_mtok: 4, context_window: 200_000 },
  'claude-haiku-4-5': { input_per_mtok: 1, output_per_mtok: 5, context_window: 200_000 },
  'claude-3-haiku': { input_per_mtok: 0.25, output_per_mtok: 1.25, context_window: 200_000 },
};
export const builtinPrices: PriceTable = new Map(Object.entries(builtinList));

/** The window of a model no table knows: small enough for any current model, so nothing sent is too long. */
export const DEFAULT_CONTEXT_WINDOW = 8192;

/**
 * Finds the entry for a model name: exact, else the longest built-in name it starts with
 * (`claude-3-5-haiku-20241022` → `claude-3-5-haiku`, `gpt-4o-mini-2024-07-18` → `gpt-4o-mini`).
 */
export function lookupPrice(model: string, table: PriceTable): PriceEntry | undefined {
  const exact = table.get(model);
  if (exact) return exact;
  let best: string | undefined;
  for (const name of table.keys()) {
    if (model.startsWith(`${name}-`) && (!best || name.length > best.length)) best = name;
  }
  return best === undefined ? undefined : table.get(best);
}

/** USD cost of a call, rounded to a millionth of a dollar. */
export function costOf(price: PriceEntry | undefined, promptTokens: number, completionTokens: number): number {
  if (!price) return 0;
  const usd = (promptTokens * price.input_per_mtok + completionTokens * price.output_per_mtok) / 1_000_000;
  return Math.round(usd * 1e9) / 1e9;
}
