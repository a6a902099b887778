import type * as IORedis from 'ioredis';

let loading: Promise<typeof IORedis.Redis> | undefined;

/**
 * ioredis' client class, loaded at first use: only a deployment with `redis_url` needs it, and a single-node start
 * does not pay for it. Node gives the CommonJS exports as named exports and as `default`; the server bundle
 * (esbuild) only as `default`, so `default` is taken.
 */
export function redisClientClass(): Promise<typeof IORedis.Redis> {
  return (loading ??= import('ioredis').then((m) => (m as unknown as { default: typeof IORedis }).default.Redis));
}
