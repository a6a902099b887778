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
  /** `make()` at the first call, then its result; listed in `pending` until made. */
  const once = <T>(make: () => T): (() => T) => {
    let made: { value: T } | undefined;
    const get = () => {
      if (!made) {
        made = { value: make() };
        pending.delete(get);
      }
      return made.value;
    };
    pending.add(get);
    return get;
  };
  const validatorSelector = AjvCompiler();
  const serializerSelector = SerializerSelector();

  const compilersFactory: CompilersFactory = {
    buildValidator: ((externalSchemas: unknown, ajvOptions: unknown) => {
      // The ajv instance itself (meta-schema compiled, shared schemas added: ~90 ms) is made at the first compile.
      const pool = once(() => validatorSelector(externalSchemas as never, ajvOptions as never));
      return (route: unknown) => {
        const real = once(() => pool()(route as never) as unknown as Validate);
        // Fastify reads `.errors` off the function it was given after a failed validation.
        const validate: Validate = (data) => {
          const fn = real();
          const ok = fn(data);
          validate.errors = fn.errors;
          return ok;
        };
        return validate;
      };
    }) as never,
    buildSerializer: (externalSchemas, serializerOptions) => {
      const pool = once(() => serializerSelector(externalSchemas as never, serializerOptions as never));
      return (route) => {
        const real = once(() => pool()(route as never));
        return (doc: unknown) => real()(doc);
      };
    },
  };

  const compileAll = () => {
    const routes = [...pending];
    for (const get of routes) get();
    return routes.length;
  };
  return { compilersFactory, compileAll };
}
