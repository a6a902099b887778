import { describe, expect, it } from 'vitest';
import { InputSchemaChecker } from './input-schema.js';

describe('InputSchemaChecker', () => {
  const checker = new InputSchemaChecker();
  const fieldOf = (schema: Record<string, unknown>) => {
    try {
      checker.check(schema);
    } catch (err) {
      return (err as { details: { field: string } }).details.field;
    }
    return undefined;
  };

  it('accepts object schemas, with formats and local refs, and the same $id twice', () => {
    const schema = {
      $id: 'https://clarion.local/cap.json',
      type: 'object',
      properties: { url: { type: 'string', format: 'uri' }, n: { $ref: '#/$defs/n' } },
      $defs: { n: { type: 'integer', minimum: 0 } },
      required: ['url'],
    };
    expect(fieldOf(schema)).toBeUndefined();
    expect(fieldOf(schema)).toBeUndefined();
  });

  it.each([
    [{ type: 'array' }, '/input_schema/type'],
    [{ type: 'object', properties: { a: { type: 'text' } } }, '/input_schema/properties/a/type'],
    [{ type: 'object', required: 'a' }, '/input_schema/required'],
    [{ type: 'object', frobnicate: 1 }, '/input_schema'],
    [{ type: 'object', properties: { a: { $ref: '#/$defs/missing' } } }, '/input_schema'],
    [{ type: 'object', properties: { a: { $ref: 'http://169.254.169.254/schema' } } }, '/input_schema'],
    [{ type: 'object', properties: { a: { type: 'string', format: 'no-such-format' } } }, '/input_schema'],
  ])('refuses %j', (schema, field) => {
    expect(fieldOf(schema as Record<string, unknown>)).toBe(field);
  });
});
