import { Ajv, type ValidateFunction } from 'ajv';
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
  // Made at the first check: an ajv instance compiles its meta-schema (~15 ms), which a start does not need.
  private ajvInstance: Ajv | undefined;
  private get ajv(): Ajv {
    return (this.ajvInstance ??= addFormats(new Ajv({ strict: true, allErrors: false, validateFormats: true })));
  }

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

/** How many compiled capability schemas stay cached (keyed by capability id and version). */
const MAX_COMPILED = 500;

/**
 * Validates step inputs against capabilities' input schemas. Compiled validators are cached per
 * capability version, so a busy workflow compiles its schema once.
 */
export class InputValidator {
  private ajvInstance: Ajv | undefined;
  private get ajv(): Ajv {
    return (this.ajvInstance ??= addFormats(new Ajv({ strict: false, allErrors: false, validateFormats: true })));
  }
  private readonly compiled = new Map<string, ValidateFunction>();

  /** Throws a 400 naming the first offending field under `field`. */
  validate(key: string, schema: Record<string, unknown>, value: unknown, field: string): void {
    let fn = this.compiled.get(key);
    if (!fn) {
      // Drop any $id: two capabilities may share one, and ajv refuses a second schema with the same id.
      const { $id: _ignored, ...rest } = schema;
      fn = this.ajv.compile(rest);
      if (this.compiled.size >= MAX_COMPILED) this.compiled.delete(this.compiled.keys().next().value!);
      this.compiled.set(key, fn);
    }
    if (fn(value)) return;
    const e = fn.errors?.[0];
    const missing = e?.keyword === 'required' ? `/${String(e.params.missingProperty)}` : '';
    throw invalid(`${field}${e?.instancePath ?? ''}${missing}`, e?.message ?? 'does not match the input schema');
  }
}
