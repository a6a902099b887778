import { describe, expect, it } from 'vitest';
import { CredentialCache } from './credential-cache.js';
import type { Principal } from './principal.js';

const principal: Principal = {
  userId: 'u1',
  username: 'ada',
  role: 'viewer',
  permissions: new Set(),
  via: 'jwt',
  mustChangePassword: false,
};

describe('CredentialCache', () => {
  it('answers within the TTL and never past the credential its own end', () => {
    const c = new CredentialCache(2_000);
    c.set('t', principal, c.epoch, Infinity, 1_000);
    expect(c.get('t', 2_999)).toBe(principal);
    expect(c.get('t', 3_000)).toBeUndefined();
    c.set('short', principal, c.epoch, 1_500, 1_000);
    expect(c.get('short', 1_499)).toBe(principal);
    expect(c.get('short', 1_500)).toBeUndefined();
  });

  it('drops everything on invalidate, and refuses a lookup that an invalidation overtook', () => {
    const c = new CredentialCache(2_000);
    c.set('a', principal, c.epoch);
    const before = c.epoch;
    c.invalidate();
    expect(c.get('a')).toBeUndefined();
    // A lookup that began before the revocation committed must not be cached.
    c.set('b', principal, before);
    expect(c.get('b')).toBeUndefined();
    c.set('b', principal, c.epoch);
    expect(c.get('b')).toBe(principal);
  });

  it('caches nothing with a TTL of 0 and stays within its size', () => {
    const off = new CredentialCache(0);
    off.set('a', principal, off.epoch);
    expect(off.get('a')).toBeUndefined();
    const small = new CredentialCache(10_000, 3);
    for (const k of ['a', 'b', 'c', 'd']) small.set(k, principal, small.epoch);
    expect(['a', 'b', 'c', 'd'].filter((k) => small.get(k)).length).toBeLessThanOrEqual(3);
    expect(small.get('d')).toBe(principal);
  });
});
