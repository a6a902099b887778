import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `clk_<12 id chars>_<43 secret chars>`. The `clk_<id>` prefix is stored in clear to find
 * the row and to show in lists; the whole key is stored only as a sha256 and compared in constant time.
 */
const PATTERN = /^(clk_[A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const id = randomBytes(12).toString('base64url').replace(/[-_]/g, '').slice(0, 12).padEnd(12, '0');
  const prefix = `clk_${id}`;
  const key = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: sha256(key) };
}

export const looksLikeApiKey = (token: string): boolean => token.startsWith('clk_');

export function apiKeyPrefix(key: string): string | undefined {
  return PATTERN.exec(key)?.[1];
}

export const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export const generateRefreshToken = (): string => `clr_${randomBytes(32).toString('base64url')}`;
