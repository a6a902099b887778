import { sql, type RawBuilder } from 'kysely';
import type { Dialect } from '../db/database.js';
import { invalid } from '../errors/index.js';

export type MetadataValue = string | number | boolean;
export type Metadata = Record<string, MetadataValue>;

const COMPARISONS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin'] as const;
type Comparison = (typeof COMPARISONS)[number];

/** A parsed metadata filter: validated once, then compiled to SQL with every value bound as a parameter. */
export type WhereNode =
  | { kind: 'and' | 'or'; items: WhereNode[] }
  | { kind: 'cmp'; key: string; op: Comparison; value: MetadataValue | MetadataValue[] };

export type DocumentNode =
  { kind: 'and' | 'or'; items: DocumentNode[] } | { kind: 'contains' | 'not_contains'; text: string };

/** Parsed metadata and document conditions; the repository compiles them for its dialect and table alias. */
export interface DocFilter {
  where?: WhereNode | undefined;
  document?: DocumentNode | undefined;
  /** Only these document ids (Chroma's `ids` on query). */
  ids?: string[] | undefined;
}

export const isEmptyFilter = (f: DocFilter | undefined): boolean => !f || (!f.where && !f.document && !f.ids);

const KEY = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$/;
const MAX_DEPTH = 8;
const MAX_NODES = 200;

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is MetadataValue =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
const kindOf = (v: MetadataValue) => typeof v;

/** Checks a metadata object a client sends: flat, scalar values, sane keys. */
export function parseMetadata(raw: unknown, field: string): Metadata {
  if (raw === undefined || raw === null) return {};
  if (!isPlain(raw)) throw invalid(field, 'must be an object of string, number or boolean values');
  const out: Metadata = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!KEY.test(k)) throw invalid(`${field}/${k}`, 'is not an allowed metadata key (letters, digits, _ . : -)');
    if (v === null || v === undefined) continue;
    if (!isScalar(v)) throw invalid(`${field}/${k}`, 'must be a string, a finite number or a boolean');
    out[k] = v;
  }
  return out;
}

/** Parses a Chroma-style `where` filter; throws VALIDATION_FAILED naming the offending path. */
export function parseWhere(raw: unknown, field = 'where'): WhereNode | undefined {
  if (raw === undefined || raw === null) return undefined;
  const counter = { n: 0 };
  const node = parseWhereNode(raw, field, 0, counter);
  return node;
}

function parseWhereNode(raw: unknown, field: string, depth: number, counter: { n: number }): WhereNode {
  if (depth > MAX_DEPTH) throw invalid(field, `nests deeper than ${MAX_DEPTH} levels`);
  if (++counter.n > MAX_NODES) throw invalid(field, `has more than ${MAX_NODES} conditions`);
  if (!isPlain(raw)) throw invalid(field, 'must be an object');
  const entries = Object.entries(raw);
  if (entries.length === 0) throw invalid(field, 'must not be empty');
  const items: WhereNode[] = [];
  for (const [key, value] of entries) {
    const path = `${field}/${key}`;
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value) || value.length === 0) throw invalid(path, 'must be a non-empty array of filters');
      items.push({
        kind: key === '$and' ? 'and' : 'or',
        items: value.map((v, i) => parseWhereNode(v, `${path}/${i}`, depth + 1, counter)),
      });
      continue;
    }
    if (key.startsWith('$')) throw invalid(path, 'is not a supported operator here ($and, $or, or a metadata key)');
    if (!KEY.test(key)) throw invalid(path, 'is not an allowed metadata key');
    if (isScalar(value)) {
      items.push({ kind: 'cmp', key, op: '$eq', value });
      continue;
    }
    if (!isPlain(value)) throw invalid(path, 'must be a value or an object of operators');
    const ops = Object.entries(value);
    if (ops.length === 0) throw invalid(path, 'must not be empty');
    for (const [op, operand] of ops) {
      items.push(parseComparison(key, op, operand, `${path}/${op}`));
      if (++counter.n > MAX_NODES) throw invalid(field, `has more than ${MAX_NODES} conditions`);
    }
  }
  return items.length === 1 ? items[0]! : { kind: 'and', items };
}

function parseComparison(key: string, op: string, operand: unknown, path: string): WhereNode {
  if (!(COMPARISONS as readonly string[]).includes(op)) {
    throw invalid(path, `is not a supported operator (${COMPARISONS.join(' ')})`);
  }
  const cmp = op as Comparison;
  if (cmp === '$in' || cmp === '$nin') {
    if (!Array.isArray(operand) || operand.length === 0 || operand.length > 1000) {
      throw invalid(path, 'must be an array of 1 to 1000 values');
    }
    if (!operand.every(isScalar)) throw invalid(path, 'values must be strings, numbers or booleans');
    const first = kindOf(operand[0] as MetadataValue);
    if (!operand.every((v) => kindOf(v as MetadataValue) === first))
      throw invalid(path, 'values must all be of one type');
    return { kind: 'cmp', key, op: cmp, value: operand as MetadataValue[] };
  }
  if (!isScalar(operand)) throw invalid(path, 'must be a string, a finite number or a boolean');
  if ((cmp === '$gt' || cmp === '$gte' || cmp === '$lt' || cmp === '$lte') && typeof operand !== 'number') {
    throw invalid(path, 'must be a number');
  }
  return { kind: 'cmp', key, op: cmp, value: operand };
}

/** Parses a `where_document` filter: `$contains`, `$not_contains`, `$and`, `$or`. */
export function parseWhereDocument(raw: unknown, field = 'where_document', depth = 0): DocumentNode | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (depth > MAX_DEPTH) throw invalid(field, `nests deeper than ${MAX_DEPTH} levels`);
  if (!isPlain(raw)) throw invalid(field, 'must be an object');
  const entries = Object.entries(raw);
  if (entries.length !== 1) throw invalid(field, 'must have exactly one operator');
  const [op, value] = entries[0]!;
  const path = `${field}/${op}`;
  if (op === '$contains' || op === '$not_contains') {
    if (typeof value !== 'string' || value.length === 0 || value.length > 1000) {
      throw invalid(path, 'must be a string of 1 to 1000 characters');
    }
    return { kind: op === '$contains' ? 'contains' : 'not_contains', text: value };
  }
  if (op === '$and' || op === '$or') {
    if (!Array.isArray(value) || value.length === 0 || value.length > 100) {
      throw invalid(path, 'must be a non-empty array of filters');
    }
    return {
      kind: op === '$and' ? 'and' : 'or',
      items: value.map((v, i) => parseWhereDocument(v, `${path}/${i}`, depth + 1)!),
    };
  }
  throw invalid(path, 'is not a supported operator ($contains, $not_contains, $and, $or)');
}

type Bool = RawBuilder<boolean>;

const combine = (kind: 'and' | 'or', parts: Bool[]): Bool =>
  sql<boolean>`(${sql.join(parts, kind === 'and' ? sql` and ` : sql` or `)})`;

/**
 * A metadata condition as SQL. Keys and values are bound parameters (never spliced into the text); values
 * compare only with values of the same JSON type, so `"5"` never equals `5`. `$ne` and `$nin` are the exact
 * complements of `$eq` and `$in`: they also match documents that lack the key.
 */
export function whereSql(node: WhereNode, dialect: Dialect, column = 'metadata'): Bool {
  if (node.kind !== 'cmp')
    return combine(
      node.kind,
      node.items.map((n) => whereSql(n, dialect, column)),
    );
  const { key, op, value } = node;
  switch (op) {
    case '$eq':
      return isTrue(eqSql(key, value as MetadataValue, dialect, column));
    case '$ne':
      return sql<boolean>`not ${isTrue(eqSql(key, value as MetadataValue, dialect, column))}`;
    case '$in':
      return isTrue(inSql(key, value as MetadataValue[], dialect, column));
    case '$nin':
      return sql<boolean>`not ${isTrue(inSql(key, value as MetadataValue[], dialect, column))}`;
    default:
      return isTrue(rangeSql(key, op, value as number, dialect, column));
  }
}

/** NULL (a missing key) counts as false, so NOT of it is true. */
const isTrue = (b: Bool): Bool => sql<boolean>`coalesce(${b}, false)`;

function jsonPath(key: string): string {
  return `$."${key}"`;
}

function typeTest(key: string, value: MetadataValue, dialect: Dialect, column: string): Bool {
  const col = sql.ref(column);
  if (dialect === 'sqlite') {
    const t = sql`json_type(${col}, ${jsonPath(key)})`;
    if (typeof value === 'string') return sql<boolean>`${t} = 'text'`;
    if (typeof value === 'number') return sql<boolean>`${t} in ('integer', 'real')`;
    return sql<boolean>`${t} = ${value ? 'true' : 'false'}`;
  }
  const t = sql`jsonb_typeof(${col}::jsonb -> ${key})`;
  if (typeof value === 'string') return sql<boolean>`${t} = 'string'`;
  if (typeof value === 'number') return sql<boolean>`${t} = 'number'`;
  return sql<boolean>`${t} = 'boolean'`;
}

function valueSql(key: string, value: MetadataValue, dialect: Dialect, column: string) {
  const col = sql.ref(column);
  if (dialect === 'sqlite') return sql`json_extract(${col}, ${jsonPath(key)})`;
  if (typeof value === 'number') {
    return sql`(case when jsonb_typeof(${col}::jsonb -> ${key}) = 'number' then (${col}::jsonb ->> ${key})::float8 end)`;
  }
  return sql`(${col}::jsonb ->> ${key})`;
}

function literal(value: MetadataValue, dialect: Dialect) {
  // SQLite's json_extract gives booleans as 1/0; PostgreSQL's ->> gives 'true'/'false'.
  if (typeof value === 'boolean') return dialect === 'sqlite' ? sql`${value ? 1 : 0}` : sql`${String(value)}`;
  if (typeof value === 'number' && dialect === 'postgres') return sql`${value}::float8`;
  return sql`${value}`;
}

function eqSql(key: string, value: MetadataValue, dialect: Dialect, column: string): Bool {
  return sql<boolean>`(${typeTest(key, value, dialect, column)} and ${valueSql(key, value, dialect, column)} = ${literal(value, dialect)})`;
}

function inSql(key: string, values: MetadataValue[], dialect: Dialect, column: string): Bool {
  const first = values[0]!;
  const list = sql.join(values.map((v) => literal(v, dialect)));
  return sql<boolean>`(${typeTest(key, first, dialect, column)} and ${valueSql(key, first, dialect, column)} in (${list}))`;
}

function rangeSql(key: string, op: Comparison, value: number, dialect: Dialect, column: string): Bool {
  const sym = op === '$gt' ? sql`>` : op === '$gte' ? sql`>=` : op === '$lt' ? sql`<` : sql`<=`;
  return sql<boolean>`(${typeTest(key, value, dialect, column)} and ${valueSql(key, value, dialect, column)} ${sym} ${literal(value, dialect)})`;
}

/** A document-text condition as SQL: case-sensitive substring tests with the text bound as a parameter. */
export function documentSql(node: DocumentNode, dialect: Dialect, column = 'content'): Bool {
  if ('items' in node) {
    return combine(
      node.kind,
      node.items.map((n) => documentSql(n, dialect, column)),
    );
  }
  const col = sql.ref(column);
  const pos = dialect === 'sqlite' ? sql`instr(${col}, ${node.text})` : sql`strpos(${col}, ${node.text})`;
  return node.kind === 'contains' ? sql<boolean>`(${pos} > 0)` : sql<boolean>`(${pos} = 0)`;
}
