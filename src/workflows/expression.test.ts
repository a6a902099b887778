import { describe, expect, it } from 'vitest';
import { ExpressionError, Expressions } from './expression.js';

const ex = new Expressions({ maxLength: 4000, maxResultChars: 100_000 });
const data = { inputs: { n: 2, s: 'abc', list: [1, 2, 3] }, steps: { a: { output: { text: '${{ inputs.n }}' } } } };

describe('Expressions', () => {
  it('keeps the type of a whole-string expression and joins text otherwise', () => {
    expect(ex.render('${{ inputs.n + 1 }}', data)).toBe(3);
    expect(ex.render('${{ inputs.list.map(x, x * 2) }}', data)).toEqual([2, 4, 6]);
    expect(ex.render('n=${{ inputs.n }} s=${{ inputs.s }}', data)).toBe('n=2 s=abc');
    expect(ex.render({ a: ['${{ inputs.s.size() }}'] }, data)).toEqual({ a: [3] });
  });

  it('never evaluates data: an output that holds ${{ }} stays text', () => {
    expect(ex.render('${{ steps.a.output.text }}', data)).toBe('${{ inputs.n }}');
    expect(ex.render('x ${{ steps.a.output.text }}', data)).toBe('x ${{ inputs.n }}');
  });

  it('gives no way to JavaScript internals', () => {
    for (const src of [
      'inputs.constructor',
      'inputs["constructor"]',
      'inputs.__proto__',
      'inputs.s.constructor',
      'process',
      'require("fs")',
      'globalThis',
      'inputs.toString()',
    ]) {
      expect(() => ex.evaluate(src, data), src).toThrow(ExpressionError);
    }
  });

  it('refuses work that would not end in reasonable time or space', () => {
    // Three nested comprehensions over the input would be n^3 steps.
    expect(() => ex.compile('inputs.list.map(a, inputs.list.map(b, inputs.list.map(c, a * b * c)))')).toThrow(
      /nested at most 2/,
    );
    expect(() => ex.compile(`${'1 + '.repeat(2000)}1`)).toThrow(ExpressionError);
    const big = { inputs: { s: 'x'.repeat(60_000) } };
    expect(() => ex.evaluate('inputs.s + inputs.s', big)).toThrow(/larger than/);
    expect(() => ex.render('${{ inputs.s }}${{ inputs.s }}', big)).toThrow(/larger than/);
  });

  it('finds the steps and names an expression refers to, ignoring loop variables', () => {
    const r = ex.references('steps.a.output.x + steps["b"].output + inputs.list.map(item2, item2 + 1)[0]');
    expect([...r.steps].sort()).toEqual(['a', 'b']);
    expect([...r.roots].sort()).toEqual(['inputs', 'steps']);
  });
});
