import type { Command } from 'commander';
import { createApp, type App } from '../app.js';
import { loadConfig, type Config } from '../config/config.js';
import { createLogger } from '../logger.js';

/** Loads the config named by the global `--config` flag; a bad value exits with the key named. */
export function configFrom(cmd: Command): Config {
  const opts = cmd.optsWithGlobals<{ config?: string }>();
  return loadConfig(opts.config ? { file: opts.config } : {});
}

/** Opens the app without listening, for commands that work on the database directly. */
export async function withApp<T>(cmd: Command, fn: (app: App) => Promise<T>): Promise<T> {
  const config = configFrom(cmd);
  const app = await createApp(config, {
    logger: createLogger({ ...config, log_level: 'warn', log_pretty: false }),
    startEngine: false,
  });
  try {
    return await fn(app);
  } finally {
    await app.stop();
  }
}

export function print(value: unknown, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (Array.isArray(value)) console.table(value);
  else process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);
}
