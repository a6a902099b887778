import type { Compilable, CompiledQuery, Kysely } from 'kysely';

/**
 * A query of a hot path, built and compiled once per dialect instead of on every call: Kysely's
 * builder and compiler cost more than running a small indexed SELECT. `build` is called once with
 * placeholder values; each call then runs the same SQL with its own parameters, on a database
 * handle or a transaction. Only for queries whose shape does not depend on the arguments.
 */
export function precompiled<DB, A extends unknown[], R>(
  build: (db: Kysely<DB>, ...args: A) => Compilable<R>,
): (db: Kysely<DB>, ...args: A) => Promise<R[]> {
  const byAdapter = new WeakMap<object, { compiled: CompiledQuery<R>; slots: number[] }>();
  return async (db, ...args) => {
    const adapter = db.getExecutor().adapter;
    let entry = byAdapter.get(adapter);
    if (!entry) {
      const marks = args.map((_, i) => `\u0000precompiled-argument-${i}\u0000`);
      const compiled = build(db, ...(marks as A)).compile();
      const slots = compiled.parameters.map((p) => marks.indexOf(p as string));
      const used = new Set(slots.filter((s) => s >= 0));
      if (used.size !== args.length) {
        throw new Error(`precompiled query uses ${used.size} of its ${args.length} arguments as parameters`);
      }
      entry = { compiled, slots };
      byAdapter.set(adapter, entry);
    }
    const { compiled, slots } = entry;
    const parameters = compiled.parameters.map((p, i) => (slots[i]! >= 0 ? args[slots[i]!] : p));
    return (await db.executeQuery<R>({ ...compiled, parameters })).rows;
  };
}
