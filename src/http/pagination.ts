import { invalid } from '../errors/index.js';

/** Cursor pagination over (sort key, id): stable under inserts, opaque to clients. */
export interface Cursor {
  k: string | number;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.k, c.id])).toString('base64url');
}

export function decodeCursor(raw: string | undefined): Cursor | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      (typeof v[0] === 'string' || typeof v[0] === 'number') &&
      typeof v[1] === 'string'
    ) {
      return { k: v[0], id: v[1] };
    }
  } catch {
    // fall through
  }
  throw invalid('cursor', 'is not a cursor this server returned');
}

export function pageLimit(requested: number | undefined, max: number, fallback = 50): number {
  return Math.min(requested ?? Math.min(fallback, max), max);
}

/** Given `limit + 1` rows, returns the page and the cursor of the next one. */
export function toPage<T>(
  rows: T[],
  limit: number,
  key: (row: T) => Cursor,
): { items: T[]; next_cursor: string | null } {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return { items, next_cursor: more && last ? encodeCursor(key(last)) : null };
}
