import type * as Undici from 'undici';
import type { Agent, Dispatcher } from 'undici';

let loading: Promise<typeof Undici> | undefined;

/**
 * undici, loaded at the first outbound call instead of at start. It is the largest package in the server bundle
 * (~750 KB, a fifth of it), and a server that never calls a model provider or an http target never needs it;
 * loading it at start cost ~120 ms of a ~1.1 s start (docs/benchmarks.md, "startup").
 */
export function undici(): Promise<typeof Undici> {
  // Node gives a CommonJS package's exports as named exports and as `default`; the server bundle (esbuild)
  // only as `default`. Taking `default` works in both.
  return (loading ??= import('undici').then((m) => (m.default ?? m) as unknown as typeof Undici));
}

/** Where a caller gets its connection pool: made at the first call, shared after. */
export interface DispatcherSource {
  get(): Promise<Dispatcher>;
}

/** An undici Agent created (and undici loaded) at the first `get()`. */
export class LazyAgent implements DispatcherSource {
  private agent: Promise<Agent> | undefined;

  constructor(private readonly options: Agent.Options) {}

  get(): Promise<Dispatcher> {
    return (this.agent ??= undici().then((u) => new u.Agent(this.options)));
  }

  async close(): Promise<void> {
    if (this.agent) await (await this.agent).close();
  }
}
