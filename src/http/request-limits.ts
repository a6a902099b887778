import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/index.js';
import { FixedWindowLimiter } from './fixed-window-limiter.js';

/** Probes answer whatever the load: an orchestrator must see a busy node as alive. */
const UNLIMITED = new Set(['/health', '/ready', '/metrics']);

/**
 * The request limits of every route: per user once signed in, per address before, in one-minute windows kept
 * in process. Each answer carries `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds
 * until the window ends); over the limit the request is refused with 429 RATE_LIMITED and `retry-after`.
 *
 * Called synchronously from the auth hook once the principal is known. (@fastify/rate-limit did the same through an
 * async hook that awaited its key, allow-list, limit and store in turn: four promises and microtask turns on every
 * request, a quarter of the CPU Clarion adds to an authenticated request — docs/benchmarks.md, auth-me.)
 */
export class RequestLimits {
  private readonly users: FixedWindowLimiter;
  private readonly addresses: FixedWindowLimiter;

  constructor(perUserPerMinute: number, perAddressPerMinute: number) {
    this.users = new FixedWindowLimiter(perUserPerMinute, 60_000);
    this.addresses = new FixedWindowLimiter(perAddressPerMinute, 60_000);
  }

  /** Counts the request; sets the limit headers; throws RATE_LIMITED when its user or address is over. */
  apply(request: FastifyRequest, reply: FastifyReply): void {
    const url = request.routeConfig.url;
    if (url !== undefined && UNLIMITED.has(url)) return;
    const now = Date.now();
    const principal = request.principal;
    const limiter = principal ? this.users : this.addresses;
    const window = limiter.take(principal ? principal.userId : request.ip, now);
    const max = limiter.limit;
    const reset = limiter.secondsLeft(window, now);
    reply.header('x-ratelimit-limit', max);
    reply.header('x-ratelimit-remaining', Math.max(0, max - window.count));
    reply.header('x-ratelimit-reset', reset);
    if (window.count > max) {
      throw new AppError(
        'RATE_LIMITED',
        undefined,
        { retry_after_seconds: reset, limit: max },
        {
          'retry-after': String(reset),
        },
      );
    }
  }
}
