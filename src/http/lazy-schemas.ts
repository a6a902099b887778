import AjvCompiler from '@fastify/ajv-compiler';
import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';

declare module 'fastify' {
  interface FastifyInstance {
    /** Compiles every route schema not compiled yet; returns how many there were (see lazySchemaCompilers). */
    compileAllSchemas: () => number;
  }
}

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type Validate = ((data: unknown) => unknown) & { errors?: unknown };

/**
 * Fastify's own validator (ajv) and serializer (fast-json-stringify) compilers, compiling each route schema at its
 * first use instead of at start. Compiling the ~100 routes' request and response schemas up front was 0.8 s of a
 * 3.5 s start (profiled) and most of them are never used by a given process (a worker, the CLI's server, an
 * API-only node serving a few routes). A route's first request pays its own compile once (a few ms).
 *
 * `compileAll()` compiles everything still pending, so a test can prove every schema in the app compiles.
 */
export function lazySchemaCompilers(): { compilersFactory: CompilersFactory; compileAll: () => number } {
  const pending = new Set<() => unknown>();
  const validatorSelector = AjvCompiler();
  const serializerSelector = SerializerSelector();

  const compilersFactory: CompilersFactory = {
    buildValidator: ((externalSchemas: unknown, ajvOptions: unknown) => {
      // The ajv instance itself (meta-schema compiled, shared schemas added: ~90 ms) is made at the first compile.
      let pool: ReturnType<typeof validatorSelector> | undefined;
      return (route: unknown) => {
        let fn: Validate | undefined;
        const load = () =>
          (fn ??= (pool ??= validatorSelector(externalSchemas as never, ajvOptions as never))(
            route as never,
          ) as unknown as Validate);
        pending.add(load);
        // Fastify reads `.errors` off the function it was given after a failed validation.
        const validate: Validate = (data) => {
          if (!fn) pending.delete(load);
          const real = load();
          const ok = real(data);
          validate.errors = real.errors;
          return ok;
        };
        return validate;
      };
    }) as never,
    buildSerializer: (externalSchemas, serializerOptions) => {
      let pool: ReturnType<typeof serializerSelector> | undefined;
      return (route) => {
        let fn: ((doc: unknown) => string) | undefined;
        const load = () =>
          (fn ??= (pool ??= serializerSelector(externalSchemas as never, serializerOptions as never))(route as never));
        pending.add(load);
        return (doc: unknown) => {
          if (!fn) pending.delete(load);
          return load()(doc);
        };
      };
    },
  };

  const compileAll = () => {
    const n = pending.size;
    for (const load of pending) load();
    pending.clear();
    return n;
  };
  return { compilersFactory, compileAll };
}
