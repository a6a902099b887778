import { describe, expect, it, vi } from 'vitest';
import { timeOrderedId } from './time-ordered-id.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('timeOrderedId', () => {
  it('makes RFC 9562 version 7 ids carrying the current time', () => {
    const before = Date.now();
    const id = timeOrderedId();
    expect(id).toMatch(V7);
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now());
  });

  it('sorts in the order the ids were made, within one millisecond and across the random pool refills', () => {
    const spy = vi.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);
    try {
      // 1,000 ids: several refills of the 256-id random pool, all in one (frozen) millisecond.
      const ids = Array.from({ length: 1000 }, () => timeOrderedId());
      expect(new Set(ids).size).toBe(1000);
      expect([...ids].sort()).toEqual(ids);
      for (const id of ids) expect(id).toMatch(V7);
    } finally {
      spy.mockRestore();
    }
    // The clock going back (NTP) does not make a smaller id either.
    const a = timeOrderedId();
    const spy2 = vi.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000);
    try {
      expect(timeOrderedId() > a).toBe(true);
    } finally {
      spy2.mockRestore();
    }
  });

  it('does not repeat the random part', () => {
    const tails = new Set(Array.from({ length: 5000 }, () => timeOrderedId().slice(-12)));
    expect(tails.size).toBe(5000);
  });
});
