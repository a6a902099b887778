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
  }

  private evictExpired(now: number): void {
    for (const [k, e] of this.entries) if (e.until <= now) this.entries.delete(k);
  }
}
