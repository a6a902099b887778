import { describe, expect, it } from 'vitest';
import { parseMetadata, parseWhere, parseWhereDocument } from './memory-filter.js';

const fieldOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { details?: { field?: string } }).details?.field;
  }
  return undefined;
};

describe('memory filters', () => {
  it('parses shorthand equality, operators and nesting', () => {
    expect(parseWhere({ a: 1 })).toEqual({ kind: 'cmp', key: 'a', op: '$eq', value: 1 });
    expect(parseWhere({ a: { $gte: 2, $lt: 5 } })).toEqual({
      kind: 'and',
      items: [
        { kind: 'cmp', key: 'a', op: '$gte', value: 2 },
        { kind: 'cmp', key: 'a', op: '$lt', value: 5 },
      ],
    });
    expect(parseWhere({ $or: [{ a: 'x' }, { b: { $in: [1, 2] } }] })).toMatchObject({ kind: 'or' });
    expect(parseWhere(undefined)).toBeUndefined();
  });

  it('names the offending path of a bad filter', () => {
    expect(fieldOf(() => parseWhere({ a: { $gt: 'x' } }))).toBe('where/a/$gt');
    expect(fieldOf(() => parseWhere({ $and: [] }))).toBe('where/$and');
    expect(fieldOf(() => parseWhere({ $and: [{ a: { $like: 1 } }] }))).toBe('where/$and/0/a/$like');
    expect(fieldOf(() => parseWhere({ a: { $in: [1, 'x'] } }))).toBe('where/a/$in');
    expect(fieldOf(() => parseWhere({ 'a"b': 1 }))).toBe('where/a"b');
    expect(fieldOf(() => parseWhere({ a: [1] }))).toBe('where/a');
    expect(fieldOf(() => parseWhereDocument({ $contains: '' }))).toBe('where_document/$contains');
    expect(fieldOf(() => parseWhereDocument({ $contains: 'a', $not_contains: 'b' }))).toBe('where_document');
  });

  it('refuses filters nested too deep', () => {
    let deep: unknown = { a: 1 };
    for (let i = 0; i < 12; i++) deep = { $and: [deep] };
    expect(() => parseWhere(deep)).toThrow(/deeper/);
  });

  it('accepts flat scalar metadata only', () => {
    expect(parseMetadata({ a: 1, b: 'x', c: true, d: null }, 'm')).toEqual({ a: 1, b: 'x', c: true });
    expect(fieldOf(() => parseMetadata({ a: { b: 1 } }, 'm'))).toBe('m/a');
    expect(fieldOf(() => parseMetadata({ a: Number.NaN }, 'm'))).toBe('m/a');
  });
});
