import { SingleFlight } from '../single-flight.js';
import type { Principal } from './principal.js';

interface Entry {
  principal: Principal;
  until: number;
}

/**
 * Recently checked bearer credentials (access JWTs and API keys) and the principal each one gave,
 * kept for a few seconds so a busy client does not pay a signature check and a database read on
 * every request (LiteLLM keeps API keys the same way, for much longer).
 *
 * Every change that can end or narrow a credential (sign-out, session revocation, a user disabled,
 * deleted, given another role or a new password, an API key revoked) calls `invalidate()` after it
 * commits, which empties the cache on this node at once. Other nodes notice within the TTL.
 */
export class CredentialCache {
  private readonly entries = new Map<string, Entry>();
  /** Checks under way, shared by every request with the same credential until they end (forgotten by invalidate). */
  private readonly checking = new SingleFlight<string, Principal>();
  private generation = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /** Read before the lookup starts; `set` ignores a result that an invalidation overtook. */
  get epoch(): number {
    return this.generation;
  }

  get(token: string, now = Date.now()): Principal | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    if (e.until > now) return e.principal;
    this.entries.delete(token);
    return undefined;
  }

  /**
   * The principal of a credential: from the cache, else from `check`, run once for all the requests that bring the
   * same credential while it runs. Without that, the requests of a busy client that arrive as its entry expires
   * would each verify the token and read the database (100 connections: 100 checks every `auth_cache_ttl`, a
   * burst that was the p99 of an authenticated request). A check started before an invalidation is not shared with
   * requests that come after it: they start their own. With a TTL of 0 nothing is shared.
   */
  resolve(
    token: string,
    check: () => Promise<{ principal: Principal; expiresAt: number }>,
    now = Date.now(),
  ): Principal | Promise<Principal> {
    const hit = this.get(token, now);
    if (hit) return hit;
    const epoch = this.generation;
    // A TTL of 0 means every request is checked on its own.
    if (this.ttlMs <= 0) return check().then((r) => r.principal);
    return this.checking.run(token, () =>
      check().then((r) => {
        this.set(token, r.principal, epoch, r.expiresAt, now);
        return r.principal;
      }),
    );
  }

  /** Keeps `principal` until the TTL ends or `expiresAt` (the credential's own end), whichever is first. */
  set(token: string, principal: Principal, epoch: number, expiresAt = Infinity, now = Date.now()): void {
    if (this.ttlMs <= 0 || epoch !== this.generation) return;
    if (this.entries.size >= this.maxEntries) this.evictExpired(now);
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(token, { principal, until: Math.min(now + this.ttlMs, expiresAt) });
  }

  invalidate(): void {
    this.generation++;
    this.entries.clear();
    this.checking.forget();
  }

  private evictExpired(now: number): void {
    for (const [k, e] of this.entries) if (e.until <= now) this.entries.delete(k);
  }
}
