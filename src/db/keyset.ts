import { sql, type ExpressionBuilder, type RawBuilder, type SqlBool } from 'kysely';
import type { Cursor } from '../http/pagination.js';

export type SortOrder = 'asc' | 'desc';

/**
 * The WHERE of keyset pagination over (column, id) in either direction: rows strictly after the
 * cursor in the list's order. The query must order by the same column, then id, in that direction.
 */
export function afterCursor(column: string, order: SortOrder, after: Cursor) {
  const op = order === 'asc' ? '>' : '<';
  return (eb: ExpressionBuilder<any, any>) =>
    eb.or([
      eb(eb.ref(column), op, after.k),
      eb.and([eb(eb.ref(column), '=', after.k), eb(eb.ref('id'), op, after.id)]),
    ]);
}

/**
 * Case-insensitive "column contains text" that means the same on SQLite and PostgreSQL:
 * both sides lower-cased, LIKE wildcards in the text escaped with an explicit ESCAPE.
 */
export function containsText(column: string, text: string): RawBuilder<SqlBool> {
  const pattern = `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<SqlBool>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}
