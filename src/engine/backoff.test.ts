import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  it('is fixed or doubling, capped, without jitter', () => {
    const fixed = { max_attempts: 5, delay: '100ms', jitter: false };
    expect([1, 2, 3].map((a) => backoffDelay(fixed, a))).toEqual([100, 100, 100]);
    const exp = { max_attempts: 5, backoff: 'exponential' as const, delay: '100ms', max_delay: '350ms', jitter: false };
    expect([1, 2, 3, 4].map((a) => backoffDelay(exp, a))).toEqual([100, 200, 350, 350]);
  });

  it('jitter spreads ±50%', () => {
    const p = { max_attempts: 3, delay: 1000 };
    expect(backoffDelay(p, 1, () => 0)).toBe(500);
    expect(backoffDelay(p, 1, () => 0.999)).toBe(1499);
  });
});
