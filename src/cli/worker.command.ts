import type { Command } from 'commander';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { configFrom } from './context.js';

/** `clarion worker`: only the workflow executor, no HTTP; run several against one PostgreSQL to scale out. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run only the workflow executor (no HTTP server); scale out by starting more')
    .action(async (_opts, cmd: Command) => {
      const config = configFrom(cmd);
      const logger = createLogger(config);
      const app = await createApp(config, { logger, startEngine: true });
      logger.info({ database: app.database.location }, 'clarion worker started');
      let stopping = false;
      const shutdown = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'worker stopping');
        const timer = setTimeout(() => process.exit(1), config.shutdown_timeout);
        timer.unref();
        app.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err }, 'worker stop failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    });
}
