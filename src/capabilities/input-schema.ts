import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { invalid } from '../errors/index.js';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (
  ajv: Ajv,
) => Ajv;

/**
 * Checks that a capability's `input_schema` is a usable JSON Schema of an object: valid against
 * the meta-schema and compilable in strict mode (unknown keywords, unresolvable `$ref`s and
 * contradictory schemas are refused). Nothing remote is ever fetched.
 */
export class InputSchemaChecker {
  private readonly ajv = addFormats(new Ajv({ strict: true, allErrors: false, validateFormats: true }));

  check(schema: Record<string, unknown>, field = '/input_schema'): void {
    if (schema.type !== 'object') throw invalid(`${field}/type`, 'must be "object": capability inputs are objects');
    if (!this.ajv.validateSchema(schema)) {
      const e = this.ajv.errors?.[0];
      throw invalid(`${field}${e?.instancePath ?? ''}`, `is not a valid JSON Schema: ${e?.message ?? 'invalid'}`);
    }
    // Compile a copy: ajv caches compiled schemas by identity and by $id.
    const copy = structuredClone(schema);
    try {
      this.ajv.compile(copy);
    } catch (err) {
      throw invalid(field, `is not a usable JSON Schema: ${(err as Error).message}`);
    } finally {
      this.ajv.removeSchema(copy);
      if (typeof copy.$id === 'string') this.ajv.removeSchema(copy.$id);
    }
  }
}
