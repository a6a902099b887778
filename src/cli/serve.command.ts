import type { Command } from 'commander';
import { createApp } from '../app.js';
import { configFrom } from './context.js';
import { runUntilStopped } from './run-until-stopped.js';
import type { StopSignals } from './stop-signals.js';

/** `signals` are those main.ts caught from the start; without them (in-process tests) they are caught here. */
export function registerServeCommand(program: Command, signals?: StopSignals): void {
  program
    .command('serve', { isDefault: true })
    .description('serve the API and web UI (default command)')
    .action(async (_opts, cmd: Command) => {
      const config = configFrom(cmd);
      // Finish in-flight requests, then close the database; give up after shutdown_timeout.
      await runUntilStopped({
        config,
        signals,
        messages: { stopping: 'shutting down', stopped: 'stopped' },
        start: async (abort, logger) => {
          const app = await createApp(config, { logger, signal: abort, backgroundCheckpoints: true });
          if (abort.aborted) return app;
          try {
            await app.listen();
          } catch (err) {
            await app.stop();
            throw err;
          }
          return app;
        },
      });
    });
}
