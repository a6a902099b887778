import { AppError } from '../errors/index.js';
import type { Deployment, RoutingStrategy } from './llm.js';
import type { LlmProvider } from './providers/llm-provider.js';
import { ProviderError } from './providers/provider-error.js';
import type { CancelSignal } from './call-cancel.js';

/** A deployment with its provider ready to call. */
export interface Target extends Deployment {
  impl: LlmProvider;
}

/** What a model name resolved to: one or more deployments and how to pick among them. */
export interface Route {
  /** The alias, `provider/model`, or bare model name the caller asked for. */
  name: string;
  strategy: RoutingStrategy;
  targets: Target[];
}

export interface RouterOptions {
  maxRetries: number;
  retryBaseMs: number;
  maxRetryWaitMs: number;
  cooldownFailures: number;
  cooldownMs: number;
  now?: () => number;
  sleep?: (ms: number, signal?: CancelSignal) => Promise<void>;
  random?: () => number;
}

interface DeploymentState {
  inFlight: number;
  failures: number;
  cooldownUntil: number;
  /** Exponentially weighted mean latency in ms; undefined until the first success. */
  latency: number | undefined;
  /** Start times of the last minute's calls; kept only for a deployment with a requests-per-minute limit. */
  requests: number[];
  /** Tokens used in the last minute; kept only for a deployment with a tokens-per-minute limit. */
  tokens: { at: number; n: number }[];
}

export interface RouteResult<T> {
  value: T;
  target: Target;
  /** Attempts made, across deployments. */
  attempts: number;
  /** For held calls (streams): marks the deployment free again. Idempotent. */
  release(): void;
}

const WINDOW_MS = 60_000;
const LATENCY_WEIGHT = 0.3;

const defaultSleep = (ms: number, signal?: CancelSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new ProviderError('aborted', 'the call was cancelled'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new ProviderError('aborted', 'the call was cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Picks deployments for a route and calls them: ordering by strategy, skipping deployments in cooldown
 * or over their requests/tokens per minute, retrying with exponential backoff and jitter, honouring
 * Retry-After, and falling back to the next deployment. State is per process.
 */
export class Router {
  private readonly states = new Map<string, DeploymentState>();
  private readonly turns = new Map<string, number>();
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: CancelSignal) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly opts: RouterOptions) {
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? defaultSleep;
    this.random = opts.random ?? Math.random;
  }

  private key(t: Deployment): string {
    return `${t.provider}/${t.model}`;
  }

  state(t: Deployment): DeploymentState {
    const k = this.key(t);
    let s = this.states.get(k);
    if (!s) {
      s = { inFlight: 0, failures: 0, cooldownUntil: 0, latency: undefined, requests: [], tokens: [] };
      this.states.set(k, s);
    }
    return s;
  }

  /** Deployments in the order this call should try them. */
  order(route: Route): Target[] {
    const ts = route.targets;
    if (ts.length <= 1) return [...ts];
    switch (route.strategy) {
      case 'round_robin': {
        const wheel: Target[] = [];
        for (const t of ts) for (let i = 0; i < (t.weight ?? 1); i++) wheel.push(t);
        const turn = this.turns.get(route.name) ?? 0;
        this.turns.set(route.name, (turn + 1) % wheel.length);
        const out: Target[] = [];
        for (let i = 0; i < wheel.length; i++) {
          const t = wheel[(turn + i) % wheel.length]!;
          if (!out.includes(t)) out.push(t);
        }
        return out;
      }
      case 'least_busy':
        return [...ts].sort((a, b) => this.state(a).inFlight - this.state(b).inFlight);
      case 'lowest_latency':
        // Untried deployments go first so every one gets measured.
        return [...ts].sort((a, b) => (this.state(a).latency ?? -1) - (this.state(b).latency ?? -1));
      default:
        return [...ts];
    }
  }

  /** Why a deployment cannot take a call now, with the ms until it can; undefined when it can. */
  private blocked(t: Target, tokens: () => number, now: number): number | undefined {
    const s = this.state(t);
    if (s.cooldownUntil > now) return s.cooldownUntil - now;
    const since = now - WINDOW_MS;
    while (s.requests.length && s.requests[0]! <= since) s.requests.shift();
    while (s.tokens.length && s.tokens[0]!.at <= since) s.tokens.shift();
    if (t.rpm !== undefined && s.requests.length >= t.rpm) return s.requests[0]! + WINDOW_MS - now;
    if (t.tpm !== undefined && s.tokens.length) {
      const used = s.tokens.reduce((sum, e) => sum + e.n, 0);
      if (used + tokens() > t.tpm) return s.tokens[0]!.at + WINDOW_MS - now;
    }
    return undefined;
  }

  /** Counts tokens a call actually used against its deployment's tokens per minute. */
  addTokens(t: Deployment, n: number): void {
    // Without a limit there is nothing to count against: a minute of entries at 500 calls/s is 30,000 objects
    // kept alive for a minute each, promoted into the old generation for the garbage collector to walk.
    if (n > 0 && t.tpm !== undefined) this.state(t).tokens.push({ at: this.now(), n });
  }

  private backoff(attempt: number): number {
    const base = this.opts.retryBaseMs * 2 ** attempt;
    // Full jitter in the upper half keeps retries spread without ever retrying at once.
    return Math.round(base / 2 + (this.random() * base) / 2);
  }

  /** Counts a call that gave up on a deployment; enough in a row put it in cooldown. */
  private failed(s: DeploymentState): void {
    s.failures++;
    if (s.failures >= this.opts.cooldownFailures) {
      s.cooldownUntil = Math.max(s.cooldownUntil, this.now() + this.opts.cooldownMs);
      s.failures = 0;
    }
  }

  /**
   * Calls `fn` on deployments until one succeeds. With `hold`, the deployment stays busy until
   * `release()` (streams); otherwise it is released when `fn` resolves.
   */
  async run<T>(
    route: Route,
    /** The call's prompt tokens, counted only when a deployment has a tokens-per-minute limit. */
    estimatedTokens: number | (() => number),
    fn: (t: Target) => Promise<T>,
    opts: {
      signal?: CancelSignal;
      hold?: boolean;
      onAttempt?: (t: Target) => void;
      onFailure?: (t: Target, err: ProviderError) => void;
    } = {},
  ): Promise<RouteResult<T>> {
    const now = this.now();
    let counted: number | undefined;
    const tokens = () => (counted ??= typeof estimatedTokens === 'number' ? estimatedTokens : estimatedTokens());
    const usable: Target[] = [];
    let soonest = Infinity;
    for (const t of this.order(route)) {
      const wait = this.blocked(t, tokens, now);
      if (wait === undefined) usable.push(t);
      else soonest = Math.min(soonest, wait);
    }
    if (usable.length === 0) {
      const secs = Math.max(1, Math.ceil(soonest / 1000));
      throw new AppError(
        'LLM_UNAVAILABLE',
        `Every deployment of ${route.name} is cooling down or at its limit; retry in ${secs}s.`,
        { model: route.name, retry_after_seconds: secs },
        { 'retry-after': String(secs) },
      );
    }

    let lastErr: ProviderError | undefined;
    let lastTarget: Target = usable[0]!;
    let attempts = 0;
    for (const [i, t] of usable.entries()) {
      const isLast = i === usable.length - 1;
      const s = this.state(t);
      for (let attempt = 0; ; attempt++) {
        if (opts.signal?.aborted) throw new ProviderError('aborted', 'the call was cancelled');
        attempts++;
        lastTarget = t;
        opts.onAttempt?.(t);
        s.inFlight++;
        if (t.rpm !== undefined) s.requests.push(this.now());
        const started = this.now();
        let released = false;
        const release = () => {
          if (!released) {
            released = true;
            s.inFlight--;
          }
        };
        try {
          const value = await fn(t);
          const ms = this.now() - started;
          s.latency = s.latency === undefined ? ms : s.latency * (1 - LATENCY_WEIGHT) + ms * LATENCY_WEIGHT;
          s.failures = 0;
          if (!opts.hold) release();
          return { value, target: t, attempts, release };
        } catch (err) {
          release();
          if (!(err instanceof ProviderError)) throw err;
          if (err.kind === 'aborted') throw err;
          if (err.requestFault) throw toAppError(err, t);
          lastErr = err;
          opts.onFailure?.(t, err);
          if (err.status === 429) {
            const wait = err.retryAfterMs ?? this.backoff(attempt);
            if (isLast && attempt < this.opts.maxRetries && wait <= this.opts.maxRetryWaitMs) {
              await this.sleep(wait, opts.signal);
              continue;
            }
            if (err.retryAfterMs) s.cooldownUntil = Math.max(s.cooldownUntil, this.now() + err.retryAfterMs);
            this.failed(s);
            break;
          }
          // A timeout already cost a full wait: fall over instead of repeating it here.
          if (!err.retryable || err.kind === 'timeout' || attempt >= this.opts.maxRetries) {
            // Only a call that gave up on the deployment counts towards its cooldown: a burst of
            // failures that a retry cured (e.g. pooled connections the server closed at once) does not.
            this.failed(s);
            break;
          }
          await this.sleep(this.backoff(attempt), opts.signal);
        }
      }
    }
    throw toAppError(lastErr!, lastTarget);
  }
}

/** The Clarion error a provider failure becomes. */
export function toAppError(err: ProviderError, t: Deployment): AppError {
  const details: Record<string, unknown> = {
    provider: t.provider,
    model: t.model,
    ...(err.status !== undefined ? { upstream_status: err.status } : {}),
    upstream_message: err.message,
  };
  if (err.kind === 'timeout') return new AppError('LLM_TIMEOUT', `${t.provider} did not answer in time.`, details);
  if (err.kind === 'aborted') return new AppError('LLM_TIMEOUT', 'The call was cancelled.', details);
  if (err.status === 429) {
    const secs = err.retryAfterMs !== undefined ? Math.max(1, Math.ceil(err.retryAfterMs / 1000)) : undefined;
    return new AppError(
      'LLM_RATE_LIMITED',
      `${t.provider} is rate limiting ${t.model}; retry later.`,
      { ...details, ...(secs ? { retry_after_seconds: secs } : {}) },
      secs ? { 'retry-after': String(secs) } : undefined,
    );
  }
  if (err.status === 404) return new AppError('MODEL_NOT_FOUND', `${t.provider} does not serve ${t.model}.`, details);
  if (err.requestFault) {
    return new AppError('LLM_REQUEST_REJECTED', `${t.provider} rejected the request: ${err.message}`, details);
  }
  return new AppError('LLM_UPSTREAM_ERROR', `${t.provider} failed: ${err.message}`, details);
}
