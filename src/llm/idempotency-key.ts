import { createHash } from 'node:crypto';
import { invalid } from '../errors/index.js';
import type { LlmCallContext } from './llm.js';

/** Longest Idempotency-Key a client may send (as when starting a workflow run). */
export const IDEMPOTENCY_KEY_MAX = 200;
/** Longest key sent upstream (Stripe-style APIs take 255); longer ones go as a digest. */
const UPSTREAM_MAX = 255;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * The Idempotency-Key header of a gateway request: 1 to 200 printable ASCII characters, or a
 * VALIDATION_FAILED naming the header. It is sent on to the provider, so nothing else may pass.
 */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(', ') : header;
  if (value.length === 0 || value.length > IDEMPOTENCY_KEY_MAX || !PRINTABLE_ASCII.test(value)) {
    throw invalid(
      'headers/idempotency-key',
      `must be 1 to ${IDEMPOTENCY_KEY_MAX} printable ASCII characters`,
      value.length > IDEMPOTENCY_KEY_MAX ? { max_length: IDEMPOTENCY_KEY_MAX } : {},
    );
  }
  return value;
}

/**
 * The key as the provider gets it: as given when it fits a header, otherwise (a long key made inside Clarion)
 * a digest of it — the same for every attempt, so retries still carry one key.
 */
export function upstreamIdempotencyKey(key: string): string {
  if (key.length <= UPSTREAM_MAX && PRINTABLE_ASCII.test(key)) return key;
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/**
 * The context of another request made for the same call (a delegation's escalation, a part of a map-reduce):
 * a key of its own derived from the call's, so an upstream that honours keys does not answer it with the
 * first request's answer (or refuse it as a reuse with another body).
 */
export function deriveIdempotencyKey(ctx: LlmCallContext, suffix: string): LlmCallContext {
  return ctx.idempotencyKey ? { ...ctx, idempotencyKey: `${ctx.idempotencyKey}:${suffix}` } : ctx;
}
