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

  describe('resolve', () => {
    const deferred = () => {
      let resolve!: (v: { principal: Principal; expiresAt: number }) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<{ principal: Principal; expiresAt: number }>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    };

    it('runs one check for all the requests with the same credential while it runs, then answers from the cache', async () => {
      const c = new CredentialCache(2_000);
      let checks = 0;
      const d = deferred();
      const check = () => (checks++, d.promise);
      const waiting = Array.from({ length: 100 }, () => c.resolve('t', check));
      expect(checks).toBe(1);
      expect(c.resolve('other', () => (checks++, d.promise))).toBeInstanceOf(Promise);
      expect(checks).toBe(2);
      d.resolve({ principal, expiresAt: Infinity });
      expect(new Set(await Promise.all(waiting))).toEqual(new Set([principal]));
      expect(c.resolve('t', check)).toBe(principal);
      expect(checks).toBe(2);
    });

    it('gives a failure to every request that shared the check, and checks again on the next', async () => {
      const c = new CredentialCache(2_000);
      let checks = 0;
      const d = deferred();
      const a = c.resolve('bad', () => (checks++, d.promise));
      const b = c.resolve('bad', () => (checks++, d.promise));
      d.reject(new Error('TOKEN_INVALID'));
      await expect(a).rejects.toThrow('TOKEN_INVALID');
      await expect(b).rejects.toThrow('TOKEN_INVALID');
      const again = deferred();
      const next = c.resolve('bad', () => (checks++, again.promise));
      expect(checks).toBe(2);
      again.resolve({ principal, expiresAt: Infinity });
      expect(await next).toBe(principal);
    });

    it('does not share a check that began before an invalidation with requests after it, nor cache its result', async () => {
      const c = new CredentialCache(2_000);
      const before = deferred();
      const early = c.resolve('t', () => before.promise);
      c.invalidate(); // e.g. the session was revoked meanwhile
      const after = deferred();
      let checks = 0;
      const late = c.resolve('t', () => (checks++, after.promise));
      expect(checks).toBe(1);
      before.resolve({ principal, expiresAt: Infinity });
      expect(await early).toBe(principal); // began before the revocation, as before
      after.reject(new Error('SESSION_REVOKED'));
      await expect(late).rejects.toThrow('SESSION_REVOKED');
      expect(c.get('t')).toBeUndefined();
    });

    it('checks every request on its own with a TTL of 0', async () => {
      const c = new CredentialCache(0);
      let checks = 0;
      const check = async () => (checks++, { principal, expiresAt: Infinity });
      await Promise.all([c.resolve('t', check), c.resolve('t', check), c.resolve('t', check)]);
      expect(checks).toBe(3);
    });
  });
});
