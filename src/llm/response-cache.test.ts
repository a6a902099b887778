import { describe, expect, it } from 'vitest';
import { answerCacheContract } from './response-cache.contract.js';
import { ResponseCache } from './response-cache.js';

answerCacheContract('in-process', async (o) => new ResponseCache(o.enabled === false ? 0 : 100, o.ttlMs));

describe('ResponseCache (in process)', () => {
  it('is not shared and evicts the least recently used entry beyond its size', () => {
    const c = new ResponseCache<number>(2, 60_000);
    expect(c.shared).toBe(false);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1); // a is now the most recently used
    c.set('c', 3);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
    expect(c.size).toBe(2);
  });
});
