import { afterEach, describe, expect, it } from 'vitest';
import type { AnswerCache } from './response-cache.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CacheFactoryOptions {
  ttlMs: number;
  enabled?: boolean;
}

/** The behaviour every AnswerCache must show; run once per implementation. */
export function answerCacheContract(name: string, make: (o: CacheFactoryOptions) => Promise<AnswerCache<unknown>>) {
  describe(`AnswerCache contract: ${name}`, () => {
    const open: AnswerCache<unknown>[] = [];
    const cache = async (o: CacheFactoryOptions) => {
      const c = await make(o);
      open.push(c);
      return c;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((c) => c.close()));
    });

    it('misses an unknown key and gives back what was stored, per key', async () => {
      const c = await cache({ ttlMs: 60_000 });
      expect(c.enabled).toBe(true);
      expect(await c.get('nothing-here')).toBeUndefined();
      const answer = { id: 'a', choices: [{ index: 0, message: { role: 'assistant', content: 'hi ✓' } }], n: 1.5 };
      c.set('k1', answer);
      c.set('k2', { other: true });
      await sleep(20);
      expect(await c.get('k1')).toEqual(answer);
      expect(await c.get('k2')).toEqual({ other: true });
    });

    it('replaces a stored value', async () => {
      const c = await cache({ ttlMs: 60_000 });
      c.set('k', { v: 1 });
      c.set('k', { v: 2 });
      await sleep(20);
      expect(await c.get('k')).toEqual({ v: 2 });
    });

    it('forgets a value once its time to live is over', async () => {
      const c = await cache({ ttlMs: 150 });
      c.set('short', { v: 1 });
      await sleep(20);
      expect(await c.get('short')).toEqual({ v: 1 });
      await sleep(300);
      expect(await c.get('short')).toBeUndefined();
    });

    it('stores nothing when turned off', async () => {
      const c = await cache({ ttlMs: 60_000, enabled: false });
      expect(c.enabled).toBe(false);
      c.set('k', { v: 1 });
      await sleep(20);
      expect(await c.get('k')).toBeUndefined();
    });
  });
}
