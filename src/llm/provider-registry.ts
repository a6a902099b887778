import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DispatcherSource } from '../net/undici.js';
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config/config.js';
import type { Db } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import { nowIso } from '../db/time.js';
import { AppError, invalid } from '../errors/index.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { validateCheck } from './delegate-check.js';
import type { LlmRepository } from './llm.repository.js';
import type { LlmProvidersTable, ModelAliasesTable } from './llm.tables.js';
import type {
  CreateProviderBody,
  DelegateSpec,
  Deployment,
  ModelAlias,
  ModelInfo,
  ModelPrice,
  Provider,
  ProviderConfig,
  ProviderHealth,
  PutAliasBody,
  PutPriceBody,
  RoutingStrategy,
  UpdateProviderBody,
} from './llm.js';
import { builtinPrices, DEFAULT_CONTEXT_WINDOW, lookupPrice, type PriceEntry } from './prices.js';
import { createProvider } from './providers/create-provider.js';
import type { LlmProvider } from './providers/llm-provider.js';
import type { Route } from './router.js';
import { SerialReloads } from './registry-sync.js';

interface AliasEntry {
  alias: string;
  strategy: RoutingStrategy;
  deployments: Deployment[];
  delegate: DelegateSpec | null;
  source: 'api' | 'config';
  updated_by: string | null;
  updated_at: string;
}

interface ProviderEntry {
  config: ProviderConfig;
  impl: LlmProvider;
  row?: LlmProvidersTable;
}

const DISCOVERY_TIMEOUT_MS = 3000;

/**
 * Providers, aliases and prices: stored system-wide, held in memory for the hot path, reloaded
 * after every change — on the node that made it before it answers, on the other nodes when its announcement
 * reaches them (RegistrySync). Provider keys are sealed at rest and opened only here.
 *
 * Besides the stored ones, providers, aliases and prices can come from the configuration
 * (`llm_providers`, `llm_aliases`, `llm_prices`) and providers from the environment (OPENAI_API_KEY, ...).
 * On a name clash the stored one wins over the configured one, which wins over the environment's.
 */
export class ProviderRegistry {
  private providers = new Map<string, ProviderEntry>();
  private readonly configProviders = new Map<string, ProviderEntry>();
  private readonly envProviders = new Map<string, ProviderEntry>();
  private aliases = new Map<string, AliasEntry>();
  /** Bumped on every change of providers, aliases or prices: part of the response cache key (llm.service). */
  private gen = 0;
  private readonly configAliases = new Map<string, AliasEntry>();
  private prices = new Map<string, PriceEntry>(builtinPrices);
  private configPrices = new Map<string, PriceEntry>();
  /** Models whose price is not the built-in one, and where it comes from. */
  private priceSources = new Map<string, 'config' | 'override'>();
  /** Configured providers a stored one hides, already warned about. */
  private readonly shadowWarned = new Set<string>();
  /** Models each provider reported when last asked. */
  private readonly discovered = new Map<string, string[]>();
  /** Loads one at a time; announces each committed change (RegistrySync keeps the other nodes in step). */
  readonly reloads = new SerialReloads(() => this.loadNow());

  constructor(
    private readonly db: Db,
    private readonly repo: LlmRepository,
    private readonly secrets: SecretBox,
    private readonly dispatcher: DispatcherSource,
    private readonly logger: Logger,
  ) {}

  /**
   * Changes whenever what a model name routes to may have changed. A cached answer names the model or alias it
   * was asked for, so after an alias is pointed elsewhere (or a provider is edited) the old answer must not be
   * served as the new deployment's.
   */
  get generation(): number {
    return this.gen;
  }

  /**
   * Rebuilds providers, aliases and prices from the database (and what config and environment give), one load at
   * a time, in call order. A failed load leaves the previous state whole (everything is read before anything is
   * replaced).
   */
  load(): Promise<void> {
    return this.reloads.load();
  }

  private async loadNow(): Promise<void> {
    const rows = await this.repo.listProviders(this.db);
    const storedAliases = await this.repo.listAliases(this.db);
    const storedPrices = await this.repo.listPrices(this.db);
    const next = new Map<string, ProviderEntry>();
    for (const row of rows) {
      let apiKey: string | undefined;
      if (row.api_key) {
        try {
          apiKey = this.secrets.open(row.api_key);
        } catch {
          this.logger.error({ provider: row.name }, 'provider key cannot be opened with the master key');
        }
      }
      const config: ProviderConfig = {
        id: row.id,
        name: row.name,
        kind: row.kind as ProviderConfig['kind'],
        base_url: row.base_url,
        ...(apiKey ? { api_key: apiKey } : {}),
        models: fromJson<string[]>(row.models, []),
        enabled: row.enabled === 1,
        source: 'api',
      };
      next.set(row.name, { config, impl: createProvider(config, this.dispatcher), row });
    }
    // Stored, then configured, then offered from the environment: the first of a name wins.
    for (const [name, e] of this.configProviders) {
      if (!next.has(name)) next.set(name, e);
      else if (!this.shadowWarned.has(name)) {
        this.shadowWarned.add(name);
        this.logger.warn({ provider: name }, 'a provider stored through the API hides the configured one of this name');
      }
    }
    for (const [name, e] of this.envProviders) if (!next.has(name)) next.set(name, e);

    const aliases = new Map<string, AliasEntry>(this.configAliases);
    for (const a of storedAliases) aliases.set(a.alias, this.aliasOf(a));

    const prices = new Map<string, PriceEntry>([...builtinPrices, ...this.configPrices]);
    const sources = new Map<string, 'config' | 'override'>([...this.configPrices.keys()].map((m) => [m, 'config']));
    for (const p of storedPrices) {
      prices.set(p.model, {
        input_per_mtok: p.input_per_mtok,
        output_per_mtok: p.output_per_mtok,
        context_window: p.context_window,
      });
      sources.set(p.model, 'override');
    }

    // What a provider reported may no longer hold once it is edited or gone (also when another node changed it).
    for (const name of [...this.discovered.keys()]) {
      if (!sameProvider(this.providers.get(name), next.get(name))) this.discovered.delete(name);
    }
    this.providers = next;
    this.aliases = aliases;
    this.prices = prices;
    this.priceSources = sources;
    this.gen++;
  }

  /**
   * Takes providers, aliases and prices from the configuration (memory only; keys never touch the
   * database). Call before `load()`.
   */
  useConfig(config: Pick<Config, 'llm_providers' | 'llm_aliases' | 'llm_prices'>): void {
    for (const p of config.llm_providers) {
      const full: ProviderConfig = {
        id: `config:${p.name}`,
        name: p.name,
        kind: p.kind,
        base_url: p.base_url,
        ...(p.api_key ? { api_key: p.api_key } : {}),
        models: [...p.models],
        enabled: p.enabled,
        source: 'config',
      };
      this.configProviders.set(p.name, { config: full, impl: createProvider(full, this.dispatcher) });
    }
    const at = nowIso();
    for (const [alias, a] of Object.entries(config.llm_aliases)) {
      this.configAliases.set(alias, {
        alias,
        strategy: a.strategy,
        deployments: a.deployments.map((d) => ({ ...d })),
        delegate: a.delegate
          ? {
              try: a.delegate.try,
              escalate_to: a.delegate.escalate_to,
              ...(a.delegate.check ? { check: a.delegate.check as DelegateSpec['check'] } : {}),
            }
          : null,
        source: 'config',
        updated_by: null,
        updated_at: at,
      });
    }
    this.configPrices = new Map(
      Object.entries(config.llm_prices).map(([model, p]) => [
        model,
        {
          input_per_mtok: p.input_per_mtok,
          output_per_mtok: p.output_per_mtok,
          // None given: the level below applies (modelWindow), so none is copied here.
          context_window: p.context_window ?? null,
        },
      ]),
    );
  }

  /** Adds a provider found in the environment at start (memory only; its key never touches the database). */
  addEnvProvider(config: Omit<ProviderConfig, 'id' | 'source' | 'enabled'>): void {
    const full: ProviderConfig = { ...config, id: `env:${config.name}`, source: 'env', enabled: true };
    const entry = { config: full, impl: createProvider(full, this.dispatcher) };
    this.envProviders.set(config.name, entry);
    if (!this.providers.has(config.name)) this.providers.set(config.name, entry);
    this.gen++;
  }

  private aliasOf(a: ModelAliasesTable): AliasEntry {
    return {
      alias: a.alias,
      strategy: a.strategy as RoutingStrategy,
      deployments: fromJson<Deployment[]>(a.deployments, []),
      delegate: fromJson<DelegateSpec | null>(a.delegate, null),
      source: 'api',
      updated_by: a.updated_by,
      updated_at: a.updated_at,
    };
  }

  // ---- resolution (hot path)

  /** What `model` names: an alias, `provider/model`, or a model some enabled provider offers. */
  resolve(model: string): Route {
    const alias = this.aliases.get(model);
    if (alias) {
      const targets = alias.deployments.flatMap((d) => {
        const p = this.providers.get(d.provider);
        return p && p.config.enabled ? [{ ...d, impl: p.impl }] : [];
      });
      if (targets.length === 0) {
        throw new AppError('MODEL_NOT_FOUND', `Alias ${model} has no enabled deployment.`, { model });
      }
      return { name: model, strategy: alias.strategy, targets };
    }
    const slash = model.indexOf('/');
    if (slash > 0) {
      const p = this.providers.get(model.slice(0, slash));
      if (p && p.config.enabled) {
        return {
          name: model,
          strategy: 'fallback',
          targets: [{ provider: p.config.name, model: model.slice(slash + 1), impl: p.impl }],
        };
      }
    }
    const targets = [...this.providers.values()]
      .filter(
        (p) =>
          p.config.enabled && (p.config.models.includes(model) || this.discovered.get(p.config.name)?.includes(model)),
      )
      .map((p) => ({ provider: p.config.name, model, impl: p.impl }));
    if (targets.length === 0) {
      throw new AppError('MODEL_NOT_FOUND', `No provider or alias serves the model ${model}.`, { model });
    }
    return { name: model, strategy: 'fallback', targets };
  }

  delegateOf(model: string): DelegateSpec | undefined {
    return this.aliases.get(model)?.delegate ?? undefined;
  }

  price(model: string, providerKind?: string): PriceEntry | undefined {
    if (providerKind === 'ollama' && !this.priceSources.has(model)) return undefined;
    return lookupPrice(model, this.prices);
  }

  /**
   * The context window, in tokens, of what `model` names, as chat and map-reduce must size what they send: from
   * the effective price table (API override > `llm_prices` > built-in), DEFAULT_CONTEXT_WINDOW when no table knows
   * it. An alias is routed to any of its deployments (fallback, load balancing), so its window is the smallest
   * of theirs — the first one's could be larger than the deployment that ends up answering. A delegating alias
   * answers from `try` or `escalate_to`: the smaller of the two.
   */
  contextWindow(model: string): number {
    const d = this.aliases.get(model)?.delegate;
    const names = d ? [d.try, d.escalate_to] : [model];
    return Math.min(...names.map((n) => this.routeWindow(n)));
  }

  /** The smallest window among the deployments `name` routes to (as `resolve` picks them, without delegation). */
  private routeWindow(name: string): number {
    const alias = this.aliases.get(name);
    if (!alias) return this.modelWindow(name) ?? DEFAULT_CONTEXT_WINDOW;
    const live = alias.deployments.filter((dep) => this.providers.get(dep.provider)?.config.enabled);
    if (live.length === 0) return DEFAULT_CONTEXT_WINDOW;
    return Math.min(...live.map((dep) => this.modelWindow(dep.model) ?? DEFAULT_CONTEXT_WINDOW));
  }

  /**
   * A model's window if some table knows it: `provider/model` or bare, exact name or longest prefix (as `price`).
   * An entry without a window (a price set without one) leaves the window to the next source down, so pricing a
   * dated name such as `gpt-4o-mini-2024-07-18` keeps the built-in window of `gpt-4o-mini`.
   */
  private modelWindow(model: string): number | undefined {
    const known = (name: string) =>
      lookupPrice(name, this.prices)?.context_window ??
      lookupPrice(name, this.configPrices)?.context_window ??
      lookupPrice(name, builtinPrices)?.context_window ??
      undefined; // a null window is as unknown as a missing one
    const slash = model.indexOf('/');
    return known(model) ?? (slash > 0 ? known(model.slice(slash + 1)) : undefined);
  }

  kindOf(provider: string): string | undefined {
    return this.providers.get(provider)?.config.kind;
  }

  // ---- providers API

  private toProvider(e: ProviderEntry): Provider {
    return {
      id: e.config.id,
      name: e.config.name,
      kind: e.config.kind,
      base_url: e.config.base_url,
      api_key_set: Boolean(e.config.api_key),
      models: e.config.models,
      enabled: e.config.enabled,
      source: e.config.source,
      created_by: e.row?.created_by ?? null,
      created_at: e.row?.created_at ?? null,
      updated_at: e.row?.updated_at ?? null,
    };
  }

  listProviders(): Provider[] {
    return [...this.providers.values()].map((e) => this.toProvider(e));
  }

  private byId(id: string): ProviderEntry {
    for (const e of this.providers.values()) if (e.config.id === id) return e;
    throw new AppError('PROVIDER_NOT_FOUND', undefined, { id });
  }

  getProvider(id: string): Provider {
    return this.toProvider(this.byId(id));
  }

  async createProvider(p: Principal, body: CreateProviderBody): Promise<Provider> {
    if ([...this.providers.values()].some((e) => e.config.name === body.name && e.config.source === 'api')) {
      throw new AppError('PROVIDER_EXISTS', undefined, { name: body.name });
    }
    const now = nowIso();
    const row: LlmProvidersTable = {
      id: randomUUID(),
      name: body.name,
      kind: body.kind,
      base_url: normalizeUrl(body.base_url, 'base_url'),
      api_key: body.api_key ? this.secrets.seal(body.api_key) : null,
      models: toJson(dedupe(body.models ?? [])),
      enabled: body.enabled === false ? 0 : 1,
      created_by: p.userId,
      created_at: now,
      updated_at: now,
    };
    try {
      await this.repo.insertProvider(this.db, row);
    } catch (err) {
      if (/unique|duplicate/i.test(String((err as Error).message))) {
        throw new AppError('PROVIDER_EXISTS', undefined, { name: body.name });
      }
      throw err;
    }
    await this.reloads.committed();
    return this.getProvider(row.id);
  }

  async updateProvider(id: string, body: UpdateProviderBody): Promise<Provider> {
    const e = this.byId(id);
    if (e.config.source !== 'api' || !e.row) throw new AppError('PROVIDER_READ_ONLY', undefined, { id });
    const patch: Partial<LlmProvidersTable> = { updated_at: nowIso() };
    if (body.name !== undefined && body.name !== e.config.name) {
      if ([...this.providers.values()].some((x) => x.config.name === body.name && x.config.source === 'api')) {
        throw new AppError('PROVIDER_EXISTS', undefined, { name: body.name });
      }
      patch.name = body.name;
    }
    if (body.base_url !== undefined) {
      const next = normalizeUrl(body.base_url, 'base_url');
      // A key is only ever sent to the host it was given for: moving the provider elsewhere drops it
      // unless a new key comes with the move.
      if (new URL(next).origin !== new URL(e.config.base_url).origin && body.api_key === undefined) {
        patch.api_key = null;
      }
      patch.base_url = next;
    }
    if (body.api_key !== undefined) patch.api_key = body.api_key === null ? null : this.secrets.seal(body.api_key);
    if (body.models !== undefined) patch.models = toJson(dedupe(body.models));
    if (body.enabled !== undefined) patch.enabled = body.enabled ? 1 : 0;
    try {
      await this.repo.updateProvider(this.db, id, patch);
    } catch (err) {
      if (/unique|duplicate/i.test(String((err as Error).message))) {
        throw new AppError('PROVIDER_EXISTS', undefined, { name: body.name });
      }
      throw err;
    }
    this.discovered.delete(e.config.name);
    await this.reloads.committed();
    return this.getProvider(id);
  }

  async deleteProvider(id: string): Promise<void> {
    const e = this.byId(id);
    if (e.config.source !== 'api' || !e.row) throw new AppError('PROVIDER_READ_ONLY', undefined, { id });
    await this.repo.deleteProvider(this.db, id);
    this.discovered.delete(e.config.name);
    await this.reloads.committed();
  }

  /** Asks one provider for its models: the health check behind `/providers/:id/test` and `/models`. */
  async probe(e: ProviderEntry, timeoutMs = DISCOVERY_TIMEOUT_MS): Promise<ProviderHealth> {
    const started = Date.now();
    try {
      const models = await e.impl.listModels({ timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
      this.discovered.set(e.config.name, models);
      return { provider: e.config.name, healthy: true, models, latency_ms: Date.now() - started };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return {
        provider: e.config.name,
        healthy: false,
        models: e.config.models,
        latency_ms: Date.now() - started,
        error: message,
      };
    }
  }

  async testProvider(id: string): Promise<ProviderHealth> {
    return this.probe(this.byId(id));
  }

  /** Every enabled provider's models (asked in parallel) with health. */
  async listModels(): Promise<ModelInfo[]> {
    const entries = [...this.providers.values()].filter((e) => e.config.enabled);
    const results = await Promise.all(entries.map((e) => this.probe(e)));
    const out: ModelInfo[] = [];
    for (const [i, h] of results.entries()) {
      const e = entries[i]!;
      const names = dedupe([...e.config.models, ...(h.healthy ? h.models : [])]);
      for (const model of names) {
        out.push({
          id: `${e.config.name}/${model}`,
          provider: e.config.name,
          model,
          healthy: h.healthy,
          ...(h.error ? { error: h.error } : {}),
          context_window: this.modelWindow(model) ?? null,
        });
      }
    }
    return out;
  }

  /** Model ids for the gateway's `/v1/models`: aliases and `provider/model`, from what is known without asking. */
  knownModelIds(): string[] {
    const ids = [...this.aliases.keys()];
    for (const e of this.providers.values()) {
      if (!e.config.enabled) continue;
      for (const m of dedupe([...e.config.models, ...(this.discovered.get(e.config.name) ?? [])])) {
        ids.push(`${e.config.name}/${m}`);
      }
    }
    return ids;
  }

  /** Fills the discovered-model cache in the background (start, after provider changes). */
  discoverInBackground(): void {
    for (const e of this.providers.values()) {
      if (e.config.enabled) void this.probe(e).catch(() => {});
    }
  }

  // ---- aliases API

  listAliases(): ModelAlias[] {
    return [...this.aliases.values()].map((a) => ({ ...a }));
  }

  async putAlias(p: Principal, alias: string, body: PutAliasBody): Promise<ModelAlias> {
    for (const [i, d] of body.deployments.entries()) {
      if (!this.providers.has(d.provider)) {
        throw invalid(`/deployments/${i}/provider`, `no provider named ${d.provider}`);
      }
    }
    if (body.deployments.length === 0 && !body.delegate) {
      throw invalid('/deployments', 'must list at least one deployment (or give a delegate)');
    }
    if (body.delegate) {
      validateCheck(body.delegate.check, '/delegate/check');
      for (const f of ['try', 'escalate_to'] as const) {
        if (body.delegate[f] === alias) throw invalid(`/delegate/${f}`, 'cannot name the alias itself');
      }
    }
    const row = {
      alias,
      strategy: body.strategy ?? 'fallback',
      deployments: toJson(body.deployments),
      delegate: body.delegate ? toJson(body.delegate) : null,
      updated_by: p.userId,
      updated_at: nowIso(),
    };
    await this.repo.upsertAlias(this.db, row);
    await this.reloads.committed();
    // What was written (every column), not what the reload found: another node may have deleted it in between.
    return this.aliasOf(row);
  }

  /** Deletes a stored alias (a configured one of the same name then applies again); configured ones are read-only. */
  async deleteAlias(alias: string): Promise<void> {
    if (!(await this.repo.deleteAlias(this.db, alias))) {
      if (this.configAliases.has(alias)) throw new AppError('ALIAS_READ_ONLY', undefined, { alias });
      throw new AppError('ALIAS_NOT_FOUND', undefined, { alias });
    }
    await this.reloads.committed();
  }

  // ---- prices API

  /**
   * Every known price, with the context window chat uses for that name: an entry saved without a window shows the
   * one from the level below (as `contextWindow` applies it), not null.
   */
  listPrices(): ModelPrice[] {
    return [...this.prices]
      .map(([model, e]) => ({
        model,
        ...e,
        context_window: this.modelWindow(model) ?? null,
        source: this.priceSources.get(model) ?? ('builtin' as const),
      }))
      .sort((a, b) => a.model.localeCompare(b.model));
  }

  async putPrice(p: Principal, model: string, body: PutPriceBody): Promise<ModelPrice> {
    const row = {
      model,
      input_per_mtok: body.input_per_mtok,
      output_per_mtok: body.output_per_mtok,
      // None given: the level below applies (modelWindow) and follows it if it changes, so none is copied here.
      context_window: body.context_window ?? null,
      updated_by: p.userId,
      updated_at: nowIso(),
    };
    await this.repo.upsertPrice(this.db, row);
    await this.reloads.committed();
    // What was written, not what the reload found (as putAlias); with the window that applies when none was given.
    const { input_per_mtok, output_per_mtok } = row;
    const context_window = row.context_window ?? this.modelWindow(model) ?? null;
    return { model, input_per_mtok, output_per_mtok, context_window, source: 'override' };
  }

  /** Deletes a stored override (a configured price then applies again); configured prices are read-only. */
  async deletePrice(model: string): Promise<void> {
    if (!(await this.repo.deletePrice(this.db, model))) {
      if (this.configPrices.has(model)) throw new AppError('PRICE_READ_ONLY', undefined, { model });
      throw new AppError('PRICE_NOT_FOUND', undefined, { model });
    }
    await this.reloads.committed();
  }
}

const dedupe = (xs: string[]): string[] => [...new Set(xs)];

/** The same provider as before a reload: the same configured entry, or the same stored row not edited since. */
function sameProvider(a: ProviderEntry | undefined, b: ProviderEntry | undefined): boolean {
  if (!a || !b) return false;
  if (a === b) return true;
  return Boolean(a.row && b.row && a.row.id === b.row.id && a.row.updated_at === b.row.updated_at);
}

function normalizeUrl(raw: string, field: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw invalid(field, 'is not a URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid(field, 'must be http or https');
  if (u.username || u.password) throw invalid(field, 'must not carry credentials; use api_key');
  if (u.search || u.hash) throw invalid(field, 'must not have a query or fragment');
  return u.toString().replace(/\/+$/, '');
}
