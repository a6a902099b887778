import { describe, expect, it } from 'vitest';
import { deriveIdempotencyKey, idempotencyKeyOf, upstreamIdempotencyKey } from './idempotency-key.js';

describe('Idempotency-Key', () => {
  it('accepts 1 to 200 printable ASCII characters and refuses anything else, naming the header', () => {
    expect(idempotencyKeyOf(undefined)).toBeUndefined();
    expect(idempotencyKeyOf('run-1:step a/2')).toBe('run-1:step a/2');
    expect(idempotencyKeyOf('k'.repeat(200))).toHaveLength(200);
    for (const bad of ['', 'k'.repeat(201), 'caf\u00e9', 'a\tb', 'a\nb']) {
      expect(() => idempotencyKeyOf(bad)).toThrow(
        expect.objectContaining({
          code: 'VALIDATION_FAILED',
          details: expect.objectContaining({ field: 'headers/idempotency-key' }),
        }),
      );
    }
  });

  it('sends a key as given when it fits a header, else a stable digest of it', () => {
    expect(upstreamIdempotencyKey('abc:1')).toBe('abc:1');
    const long = `run:${'x'.repeat(300)}`;
    expect(upstreamIdempotencyKey(long)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(upstreamIdempotencyKey(long)).toBe(upstreamIdempotencyKey(long));
    expect(upstreamIdempotencyKey('tab\there')).toMatch(/^sha256:/);
  });

  it('derives a key of its own for another request of the same call, and none without a key', () => {
    expect(deriveIdempotencyKey({ userId: 'u', idempotencyKey: 'k' }, 'escalate').idempotencyKey).toBe('k:escalate');
    expect(deriveIdempotencyKey({ userId: 'u' }, 'escalate')).toEqual({ userId: 'u' });
  });
});
