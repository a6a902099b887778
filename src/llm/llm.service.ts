import { createHash } from 'node:crypto';
import http from 'node:http';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config/config.js';
import type { Db } from '../db/database.js';
import { nowIso } from '../db/time.js';
import { AppError, invalid } from '../errors/index.js';
import { decodeCursor, pageLimit, toPage } from '../http/pagination.js';
import { LazyAgent } from '../net/undici.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { BudgetService, type Estimate } from './budget.service.js';
import { passesCheck, validateCheck } from './delegate-check.js';
import { LlmRepository } from './llm.repository.js';
import type { LlmUsageTable } from './llm.tables.js';
import type {
  CallInfo,
  ChatCompletion,
  ChatCompletionChunk,
  ChatRequest,
  DelegateSpec,
  EmbedRequest,
  EmbedResult,
  LlmCallContext,
  UsageRecord,
} from './llm.js';
import { deriveIdempotencyKey, upstreamIdempotencyKey } from './idempotency-key.js';
import { costOf } from './prices.js';
import { ProviderRegistry } from './provider-registry.js';
import { ProviderError } from './providers/provider-error.js';
import { RedisResponseCache } from './redis-response-cache.js';
import { ResponseCache, type AnswerCache } from './response-cache.js';
import { Router, toAppError, type Route, type Target } from './router.js';
import { completionToChunks, StreamAssembler } from './stream-assembler.js';
import { countPromptTokens, countTokens, estimatePromptTokens, estimateTokens } from './tokens.js';
import { timeOrderedId } from '../db/time-ordered-id.js';

/** A value computed on first use, then kept. */
function once<T>(fn: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = fn();
      done = true;
    }
    return value;
  };
}

export interface LlmServiceDeps {
  db: Db;
  config: Config;
  secrets: SecretBox;
  logger: Logger;
  /** Where OPENAI_API_KEY and friends are read from (process.env in production). */
  env?: NodeJS.ProcessEnv;
}

/** Request fields that never reach a provider or the cache key. */
const CLARION_FIELDS = ['delegate', 'cache'] as const;
const OLLAMA_URL = 'http://127.0.0.1:11434';
const USAGE_BATCH_MS = 100;
const USAGE_BATCH_MAX = 200;
/** Completion tokens a call under a budget reserves when neither it nor its key sets max_tokens. */
export const DEFAULT_COMPLETION_RESERVE = 4096;

/**
 * Every model call in Clarion goes through here: routing, budgets, cache, usage and cost.
 * The gateway, workflow tasks, agents, chat and memory all use this one service.
 */
export class LlmService {
  readonly registry: ProviderRegistry;
  readonly budgets: BudgetService;
  private readonly repo = new LlmRepository();
  private readonly router: Router;
  private readonly cache: AnswerCache<ChatCompletion>;
  private readonly dispatcher: LazyAgent;
  private readonly pending = new Set<Promise<void>>();
  private batch: LlmUsageTable[] = [];
  /** Resolves when the rows of `batch` are written (or failed to be). */
  private batchWritten: { promise: Promise<void>; resolve: () => void } | undefined;
  private batchTimer: NodeJS.Timeout | undefined;
  /** Usage batches handed to the database so far (each write's sequence number, for the budgets' spend counters). */
  private batchSeq = 0;
  private readonly db: Db;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly env: NodeJS.ProcessEnv;

  constructor(deps: LlmServiceDeps) {
    this.db = deps.db;
    this.config = deps.config;
    this.logger = deps.logger;
    this.env = deps.env ?? {};
    // One keep-alive pool for every provider keeps added latency to the provider's own.
    this.dispatcher = new LazyAgent({ keepAliveTimeout: 30_000, connections: 256, pipelining: 1 });
    this.registry = new ProviderRegistry(this.db, this.repo, deps.secrets, this.dispatcher, this.logger);
    this.budgets = new BudgetService(
      this.db,
      this.repo,
      () => this.flush(),
      () => this.batchSeq,
    );
    this.router = new Router({
      maxRetries: deps.config.llm_max_retries,
      retryBaseMs: deps.config.llm_retry_base,
      maxRetryWaitMs: deps.config.llm_max_retry_wait,
      cooldownFailures: deps.config.llm_cooldown_failures,
      cooldownMs: deps.config.llm_cooldown,
    });
    this.cache = deps.config.redis_url
      ? new RedisResponseCache<ChatCompletion>(deps.config.redis_url, {
          prefix: deps.config.llm_cache_prefix,
          ttlMs: deps.config.llm_cache_ttl,
          enabled: deps.config.llm_cache_entries > 0,
          warn: (err) =>
            this.logger.warn(
              { error: err instanceof Error ? err.message : String(err) },
              'the LLM response cache cannot reach Redis; calls go to the providers (warned at most once a minute)',
            ),
        })
      : new ResponseCache(deps.config.llm_cache_entries, deps.config.llm_cache_ttl);
  }

  /**
   * Loads providers, aliases, prices and budgets (stored and configured); offers environment providers;
   * probes Ollama in the background.
   */
  async start(): Promise<void> {
    this.registry.useConfig(this.config);
    if (this.config.llm_autodetect) {
      if (this.env.OPENAI_API_KEY) {
        this.registry.addEnvProvider({
          name: 'openai',
          kind: 'openai',
          base_url: this.env.OPENAI_BASE_URL || 'https://api.openai.com/v1',
          api_key: this.env.OPENAI_API_KEY,
          models: [],
        });
      }
      if (this.env.ANTHROPIC_API_KEY) {
        this.registry.addEnvProvider({
          name: 'anthropic',
          kind: 'anthropic',
          base_url: this.env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com',
          api_key: this.env.ANTHROPIC_API_KEY,
          models: [],
        });
      }
    }
    await this.registry.load();
    await this.budgets.load();
    if (this.config.llm_autodetect) {
      // Never delays start: discovery and the Ollama probe finish whenever they finish.
      this.registry.discoverInBackground();
      void this.detectOllama(
        this.env.OLLAMA_HOST ? `http://${this.env.OLLAMA_HOST.replace(/^https?:\/\//, '')}` : OLLAMA_URL,
      );
    }
  }

  private async detectOllama(url: string): Promise<void> {
    try {
      const body = (await getLocalJson(`${url}/api/tags`, 800)) as { models?: { name?: string }[] } | undefined;
      if (!body) return;
      const models = (body.models ?? []).map((m) => m.name ?? '').filter(Boolean);
      this.registry.addEnvProvider({ name: 'ollama', kind: 'ollama', base_url: url, models });
      this.logger.info({ url, models: models.length }, 'local Ollama offered as a provider');
    } catch {
      // not running: nothing to offer
    }
  }

  async stop(): Promise<void> {
    await this.flush();
    await this.cache.close();
    await this.dispatcher.close().catch(() => {});
  }

  /** Resolves when every usage row of a finished call is written. */
  async flush(): Promise<void> {
    this.writeBatch();
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /**
   * Usage rows are written in batches (one multi-row insert every few milliseconds) so a busy gateway
   * does not pay one database write per call; budget checks and usage reads flush first.
   */
  private record(row: Omit<LlmUsageTable, 'id' | 'created_at'>): Promise<void> {
    // Time-ordered ids: each batch lands on the right edge of the id index instead of on one random leaf page per
    // row, so the WAL (and every checkpoint of it) carries a few pages a batch instead of dozens.
    this.batch.push({ id: timeOrderedId(), created_at: nowIso(), ...row });
    const written = (this.batchWritten ??= deferred());
    if (this.batch.length >= USAGE_BATCH_MAX) this.writeBatch();
    else this.batchTimer ??= setTimeout(() => this.writeBatch(), USAGE_BATCH_MS);
    return written.promise;
  }

  private writeBatch(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.batch.length === 0) return;
    const rows = this.batch;
    const written = this.batchWritten;
    const seq = ++this.batchSeq;
    this.batch = [];
    this.batchWritten = undefined;
    const p = this.repo
      .insertUsage(this.db, rows)
      // Spend counters learn of the rows before their calls' reservations end (on `written`).
      .then(() => this.budgets.noteSpent(seq, rows))
      .catch((err: unknown) => this.logger.error({ err, rows: rows.length }, 'could not record LLM usage'))
      .finally(() => {
        this.pending.delete(p);
        written?.resolve();
      });
    this.pending.add(p);
  }

  private usageRow(
    ctx: LlmCallContext,
    kind: 'chat' | 'embeddings',
    fields: Partial<LlmUsageTable> & { model: string },
  ): Omit<LlmUsageTable, 'id' | 'created_at'> {
    return {
      user_id: ctx.userId,
      api_key_id: ctx.apiKeyId ?? null,
      agent_id: ctx.agentId ?? null,
      run_id: ctx.runId ?? null,
      step_id: ctx.stepId ?? null,
      kind,
      provider: null,
      prompt_tokens: 0,
      completion_tokens: 0,
      cost: 0,
      latency_ms: 0,
      ttft_ms: null,
      cache_hit: 0,
      stream: 0,
      outcome: 'ok',
      error_code: null,
      ...fields,
    };
  }

  private costFor(t: Target, prompt: number, completion: number): number {
    return costOf(this.registry.price(t.model, this.registry.kindOf(t.provider)), prompt, completion);
  }

  /** Checks of the request itself; returns it with the caller's max_tokens ceiling applied. */
  private limit(req: ChatRequest, ctx: LlmCallContext): ChatRequest {
    if (typeof req.model !== 'string' || !req.model) throw invalid('model', 'is required');
    if (!Array.isArray(req.messages) || req.messages.length === 0)
      throw invalid('messages', 'must list at least one message');
    const ceiling = this.budgets.requestCeiling(ctx);
    let out = req;
    if (ceiling !== undefined) {
      const asked = req.max_completion_tokens ?? req.max_tokens;
      if (asked != null && asked > ceiling) {
        throw new AppError('MAX_TOKENS_EXCEEDED', `max_tokens may be at most ${ceiling} for this caller.`, {
          field: 'max_tokens',
          max: ceiling,
        });
      }
      if (asked == null) out = { ...req, max_tokens: ceiling };
    }
    return out;
  }

  /**
   * What a chat call holds against its budgets while in flight: its prompt, the completion it may ask for
   * (max_tokens, which the key's ceiling already filled in, or a default), priced at the dearest deployment
   * the route may pick.
   */
  private chatReserve(req: ChatRequest, route: Route, prompt: number): Estimate {
    const completion = req.max_completion_tokens ?? req.max_tokens ?? DEFAULT_COMPLETION_RESERVE;
    let cost = 0;
    for (const t of route.targets) cost = Math.max(cost, this.costFor(t, prompt, completion));
    return { tokens: prompt + completion, cost };
  }

  /**
   * The request's own checks, its route, and what it holds against budgets while in flight. The prompt is counted
   * only if needed: a budget, a deployment's tokens-per-minute limit, or an upstream that reports no usage.
   */
  private async admit(raw: ChatRequest, ctx: LlmCallContext) {
    const req = this.limit(raw, ctx);
    const route = this.registry.resolve(req.model);
    const estimate = once(() => countPromptTokens(req));
    // The reservation uses the tokenizer-free estimate: the first budgeted call of a process would otherwise load
    // the tokenizer on the event loop.
    const hold = await this.budgets.reserve(ctx, () => this.chatReserve(req, route, estimatePromptTokens(req)));
    return { req, route, estimate, hold };
  }

  /**
   * The cached answer to this call (recorded as a hit), and the key to store a fresh answer under (none when the
   * cache is off for it). Marks `info` hit, miss or off.
   */
  private async fromCache(
    req: ChatRequest,
    ctx: LlmCallContext,
    route: Route,
    started: number,
    stream: boolean,
    info: CallInfo | undefined,
  ): Promise<{ key: string | undefined; hit?: ChatCompletion }> {
    const key = this.cacheKey(req, ctx, route);
    const hit = key ? await this.cache.get(key) : undefined;
    if (info) info.cache = !key ? 'off' : hit ? 'hit' : 'miss';
    if (!hit) return { key };
    const ms = performance.now() - started;
    this.record(
      this.usageRow(ctx, 'chat', {
        model: hit.model,
        prompt_tokens: hit.usage?.prompt_tokens ?? 0,
        completion_tokens: hit.usage?.completion_tokens ?? 0,
        latency_ms: ms,
        cache_hit: 1,
        ...(stream ? { ttft_ms: ms, stream: 1 } : {}),
      }),
    );
    return { key, hit };
  }

  private upstream(req: ChatRequest, model: string): ChatRequest {
    const out: ChatRequest = { ...req, model };
    for (const f of CLARION_FIELDS) delete out[f];
    return out;
  }

  private cacheKey(req: ChatRequest, ctx: LlmCallContext, route: Route): string | undefined {
    if (!this.cache.enabled || req.cache === false) return undefined;
    const { stream: _s, stream_options: _o, cache: _c, delegate: _d, user: _u, ...rest } = req;
    // Per user: another user's answer is never served, even for the same prompt.
    // And per routing: after an alias or provider changes, earlier answers are not served for it. In process
    // that is the registry's generation (any change starts afresh); a cache shared with other processes, whose
    // generations differ, is keyed by the deployments the name routes to instead.
    return createHash('sha256')
      .update(ctx.userId)
      .update('\0')
      .update(this.cache.shared ? routeFingerprint(route) : String(this.registry.generation))
      .update('\0')
      .update(JSON.stringify(rest))
      .digest('hex');
  }

  private delegation(req: ChatRequest): DelegateSpec | undefined {
    if (req.delegate) {
      validateCheck(req.delegate.check, 'delegate.check');
      return req.delegate;
    }
    return this.registry.delegateOf(req.model);
  }

  // ---- chat

  /**
   * The context window (tokens) of a model or alias, with the configured and stored overrides applied: what chat
   * history trimming and map-reduce chunking size their requests by (see ProviderRegistry.contextWindow).
   */
  contextWindow(model: string): number {
    return this.registry.contextWindow(model);
  }

  /** One chat completion (OpenAI shapes). `info` receives cache and routing facts for response headers. */
  async chat(req: ChatRequest, ctx: LlmCallContext, info?: CallInfo): Promise<ChatCompletion> {
    const d = this.delegation(req);
    if (d) {
      const first = await this.chatOnce({ ...req, model: d.try, delegate: undefined }, ctx, info);
      if (passesCheck(d.check, first)) return first;
      this.logger.debug({ try: d.try, escalate_to: d.escalate_to }, 'delegation escalated');
      const second = await this.chatOnce(
        { ...req, model: d.escalate_to, delegate: undefined },
        deriveIdempotencyKey(ctx, 'escalate'),
        info,
      );
      return second;
    }
    return this.chatOnce(req, ctx, info);
  }

  private async chatOnce(raw: ChatRequest, ctx: LlmCallContext, info?: CallInfo): Promise<ChatCompletion> {
    const started = performance.now();
    const { req, route, estimate, hold } = await this.admit(raw, ctx);
    // The write of this call's usage row: the reservation ends once a budget check can see the row.
    let recorded: Promise<void> | undefined;
    try {
      const { key, hit } = await this.fromCache(req, ctx, route, started, false, info);
      // A hit counts against no budget: its reservation ends at once.
      if (hit) return hit;

      let target: Target | undefined;
      try {
        const res = await this.router.run(
          route,
          estimate,
          (t) => t.impl.chat(this.upstream(req, t.model), this.callOpts(ctx)),
          { ...(ctx.signal ? { signal: ctx.signal } : {}), onAttempt: (t) => (target = t), onFailure: this.onFailure },
        );
        target = res.target;
        const answer = res.value;
        const prompt = answer.usage?.prompt_tokens ?? estimate();
        const completion = answer.usage?.completion_tokens ?? countTokens(answer.choices[0]?.message.content ?? '');
        answer.usage = {
          ...(answer.usage ?? {}),
          prompt_tokens: prompt,
          completion_tokens: completion,
          total_tokens: prompt + completion,
        };
        if (info) {
          info.provider = target.provider;
          info.model = target.model;
        }
        recorded = this.recordServed(ctx, 'chat', target, prompt, completion, started);
        if (key) this.cache.set(key, answer);
        return answer;
      } catch (err) {
        const e = this.mapError(err, target ?? route.targets[0]);
        recorded = this.recordFailure(ctx, 'chat', route, target, e, started, false);
        throw e;
      }
    } finally {
      hold?.release(recorded);
    }
  }

  private readonly onFailure = (t: Target, err: ProviderError): void => {
    this.logger.warn(
      { provider: t.provider, model: t.model, kind: err.kind, status: err.status, error: err.message },
      'model call failed',
    );
  };

  /**
   * Per attempt. The idempotency key goes with every attempt of the call, retries and fallbacks alike, and only
   * to the host the attempt is made to (as the provider's key).
   */
  private callOpts(ctx: LlmCallContext) {
    return {
      timeoutMs: this.config.llm_request_timeout,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(ctx.idempotencyKey ? { idempotencyKey: upstreamIdempotencyKey(ctx.idempotencyKey) } : {}),
    };
  }

  private mapError(err: unknown, t: Target | undefined): unknown {
    if (err instanceof ProviderError && t) return toAppError(err, t);
    return err;
  }

  /** A call a deployment answered (a stream also when it broke): its tokens against the deployment, and its usage row. */
  private recordServed(
    ctx: LlmCallContext,
    kind: 'chat' | 'embeddings',
    target: Target,
    prompt: number,
    completion: number,
    started: number,
    fields: Partial<LlmUsageTable> = {},
  ): Promise<void> {
    this.router.addTokens(target, prompt + completion);
    return this.record(
      this.usageRow(ctx, kind, {
        model: target.model,
        provider: target.provider,
        prompt_tokens: prompt,
        completion_tokens: completion,
        cost: this.costFor(target, prompt, completion),
        latency_ms: performance.now() - started,
        ...fields,
      }),
    );
  }

  private recordFailure(
    ctx: LlmCallContext,
    kind: 'chat' | 'embeddings',
    route: Route,
    target: Target | undefined,
    err: unknown,
    started: number,
    stream: boolean,
    tokens: { prompt: number; completion: number } = { prompt: 0, completion: 0 },
  ): Promise<void> {
    const code = err instanceof AppError ? err.code : 'INTERNAL';
    const cancelled = isCancellation(err, ctx);
    return this.record(
      this.usageRow(ctx, kind, {
        model: target?.model ?? route.name,
        provider: target?.provider ?? null,
        prompt_tokens: tokens.prompt,
        completion_tokens: tokens.completion,
        cost: target ? this.costFor(target, tokens.prompt, tokens.completion) : 0,
        latency_ms: performance.now() - started,
        stream: stream ? 1 : 0,
        outcome: cancelled ? 'cancelled' : 'error',
        error_code: cancelled ? null : code,
      }),
    );
  }

  /**
   * A streamed chat completion as OpenAI chunks. Errors before the first chunk (budget, model, every
   * deployment failing) are thrown by the first `next()`, so callers can still answer with a plain error.
   * Callers must finish the iteration or call `return()` (as `for await` does): that ends the call's
   * budget reservation and frees its deployment.
   */
  async *chatStream(req: ChatRequest, ctx: LlmCallContext, info?: CallInfo): AsyncGenerator<ChatCompletionChunk> {
    const includeUsage = req.stream_options?.include_usage === true;
    const d = this.delegation(req);
    if (d) {
      // The cheap answer must be checked whole before anyone sees it, so delegation streams the chosen answer at once.
      const answer = await this.chat(req, ctx, info);
      yield* completionToChunks(answer, includeUsage);
      return;
    }
    const started = performance.now();
    const { req: admitted, route, estimate, hold } = await this.admit(req, ctx);
    let recorded: Promise<void> | undefined;
    try {
      const { key, hit } = await this.fromCache(admitted, ctx, route, started, true, info);
      if (hit) {
        // A replay costs nothing: nothing stays reserved while the client reads it.
        hold?.release();
        yield* completionToChunks(hit, includeUsage);
        return;
      }

      let target: Target | undefined;
      let opened;
      try {
        opened = await this.router.run(
          route,
          estimate,
          (t) => t.impl.openStream(this.upstream(admitted, t.model), this.callOpts(ctx)),
          {
            ...(ctx.signal ? { signal: ctx.signal } : {}),
            hold: true,
            onAttempt: (t) => (target = t),
            onFailure: this.onFailure,
          },
        );
      } catch (err) {
        const e = this.mapError(err, target ?? route.targets[0]);
        recorded = this.recordFailure(ctx, 'chat', route, target, e, started, true);
        throw e;
      }
      target = opened.target;
      if (info) {
        info.provider = target.provider;
        info.model = target.model;
      }
      const asm = new StreamAssembler();
      let ttft: number | null = null;
      let outcome: 'ok' | 'error' | 'cancelled' = 'cancelled';
      let failure: unknown;
      try {
        for await (const chunk of opened.value) {
          asm.add(chunk);
          if (ttft === null && asm.sawContent) ttft = performance.now() - started;
          // The usage-only chunk was asked for by us; pass it on only when the caller asked too.
          if (chunk.choices.length === 0 && chunk.usage && !includeUsage) continue;
          yield chunk;
        }
        outcome = 'ok';
      } catch (err) {
        // The caller went away (its signal aborted the upstream read): cancelled, not an upstream failure.
        outcome = isCancellation(err, ctx) ? 'cancelled' : 'error';
        failure = this.mapError(err, target);
        throw failure;
      } finally {
        opened.release();
        const prompt = asm.usage?.prompt_tokens ?? estimate();
        const completion =
          asm.usage?.completion_tokens ??
          countTokens(asm.content + asm.toolCalls.map((t) => t.function.name + t.function.arguments).join(''));
        recorded = this.recordServed(ctx, 'chat', target, prompt, completion, started, {
          ttft_ms: ttft,
          stream: 1,
          outcome,
          error_code: outcome === 'error' && failure instanceof AppError ? failure.code : null,
        });
        if (outcome === 'ok' && key) {
          const whole = asm.completion();
          whole.usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
          this.cache.set(key, whole);
        }
      }
    } finally {
      hold?.release(recorded);
    }
  }

  // ---- embeddings

  async embed(req: EmbedRequest, ctx: LlmCallContext): Promise<EmbedResult> {
    const inputs = Array.isArray(req.input) ? req.input : [req.input];
    if (inputs.length === 0) throw invalid('input', 'must not be empty');
    if (inputs.some((i) => typeof i !== 'string')) throw invalid('input', 'must be a string or a list of strings');
    const started = performance.now();
    const route = this.registry.resolve(req.model);
    const estimate = once(() => inputs.reduce((s, i) => s + countTokens(i), 0));
    const hold = await this.budgets.reserve(ctx, () => {
      const tokens = inputs.reduce((s, i) => s + estimateTokens(i), 0);
      let cost = 0;
      for (const t of route.targets) cost = Math.max(cost, this.costFor(t, tokens, 0));
      return { tokens, cost };
    });
    let recorded: Promise<void> | undefined;
    let target: Target | undefined;
    try {
      const res = await this.router.run(
        route,
        estimate,
        (t) => t.impl.embed({ ...req, model: t.model }, this.callOpts(ctx)),
        { ...(ctx.signal ? { signal: ctx.signal } : {}), onAttempt: (t) => (target = t), onFailure: this.onFailure },
      );
      target = res.target;
      const prompt = res.value.prompt_tokens ?? estimate();
      recorded = this.recordServed(ctx, 'embeddings', target, prompt, 0, started);
      return { data: res.value.data, model: target.model, usage: { prompt_tokens: prompt } };
    } catch (err) {
      const e = this.mapError(err, target ?? route.targets[0]);
      recorded = this.recordFailure(ctx, 'embeddings', route, target, e, started, false);
      throw e;
    } finally {
      hold?.release(recorded);
    }
  }

  // ---- usage API

  async listUsage(
    p: Principal,
    q: { limit?: number; cursor?: string; user_id?: string; all?: boolean; since?: string },
  ): Promise<{ items: UsageRecord[]; next_cursor: string | null }> {
    await this.flush();
    const userId = this.usageScope(p, q);
    const limit = pageLimit(q.limit, this.config.max_page_size);
    const c = decodeCursor(q.cursor);
    const rows = await this.repo.listUsage(this.db, {
      ...(userId !== undefined ? { userId } : {}),
      ...(q.since ? { since: q.since } : {}),
      ...(c ? { before: { at: String(c.k), id: c.id } } : {}),
      limit: limit + 1,
    });
    const page = toPage(rows, limit, (r) => ({ k: r.created_at, id: r.id }));
    return {
      items: page.items.map((r) => ({ ...r, cache_hit: r.cache_hit === 1, stream: r.stream === 1 })),
      next_cursor: page.next_cursor,
    };
  }

  async usageSummary(p: Principal, q: { user_id?: string; all?: boolean; since?: string }) {
    await this.flush();
    const userId = this.usageScope(p, q);
    const since = q.since ?? new Date(Date.now() - 30 * 86_400_000).toISOString();
    const models = await this.repo.summary(this.db, { ...(userId !== undefined ? { userId } : {}), since });
    const rows = models.map((m) => ({
      ...m,
      calls: Number(m.calls),
      prompt_tokens: Number(m.prompt_tokens),
      completion_tokens: Number(m.completion_tokens),
      cost: Number(m.cost),
      cache_hits: Number(m.cache_hits),
    }));
    return {
      since,
      calls: rows.reduce((s, r) => s + r.calls, 0),
      prompt_tokens: rows.reduce((s, r) => s + r.prompt_tokens, 0),
      completion_tokens: rows.reduce((s, r) => s + r.completion_tokens, 0),
      cost: rows.reduce((s, r) => s + r.cost, 0),
      cache_hits: rows.reduce((s, r) => s + r.cache_hits, 0),
      by_model: rows,
    };
  }

  /** Own usage by default; someone else's or everyone's needs analytics:read. */
  private usageScope(p: Principal, q: { user_id?: string; all?: boolean }): string | undefined {
    const wantsOthers = q.all === true || (q.user_id !== undefined && q.user_id !== p.userId);
    if (wantsOthers && !p.permissions.has('analytics:read')) {
      throw new AppError('FORBIDDEN', 'Seeing other users’ usage needs the permission analytics:read.', {
        permission: 'analytics:read',
      });
    }
    if (q.all) return undefined;
    return q.user_id ?? p.userId;
  }
}

/** What a model name routes to, the same in every process: the deployments and the providers behind them. */
function routeFingerprint(route: Route): string {
  return route.targets
    .map((t) => [t.impl.config.id, t.impl.config.kind, t.impl.config.base_url, t.provider, t.model].join('\u0001'))
    .sort()
    .join('\u0002');
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A GET of a small JSON body with node:http, for the start-up probe of a local Ollama: neither undici (loaded
 * at the first model call, src/net/undici.ts) nor the global fetch (Node's own second copy of undici) is
 * loaded just to learn that nothing listens on localhost:11434. Undefined on any error, status or timeout.
 */
function getLocalJson(url: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve(undefined);
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (text.length > 1_000_000) req.destroy();
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(text));
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** A call ended because its caller aborted it (the client went away), not because the provider failed. */
function isCancellation(err: unknown, ctx: LlmCallContext): boolean {
  return (err instanceof ProviderError && err.kind === 'aborted') || ctx.signal?.aborted === true;
}
