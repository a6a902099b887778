import type { Command } from 'commander';
import { createApp } from '../app.js';
import { configFrom } from './context.js';
import { runUntilStopped } from './run-until-stopped.js';
import type { StopSignals } from './stop-signals.js';

/** `clarion worker`: only the workflow executor, no HTTP; run several against one PostgreSQL to scale out. */
export function registerWorkerCommand(program: Command, signals?: StopSignals): void {
  program
    .command('worker')
    .description('run only the workflow executor (no HTTP server); scale out by starting more')
    .action(async (_opts, cmd: Command) => {
      const config = configFrom(cmd);
      await runUntilStopped({
        config,
        signals,
        messages: { stopping: 'worker stopping', stopped: 'worker stopped' },
        start: async (abort, logger) => {
          const app = await createApp(config, {
            logger,
            startEngine: true,
            signal: abort,
            backgroundCheckpoints: true,
          });
          if (!abort.aborted) logger.info({ database: app.database.location }, 'clarion worker started');
          return app;
        },
      });
    });
}
