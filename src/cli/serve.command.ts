import type { Command } from 'commander';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { configFrom } from './context.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve', { isDefault: true })
    .description('serve the API and web UI (default command)')
    .action(async (_opts, cmd: Command) => {
      const config = configFrom(cmd);
      const logger = createLogger(config);
      const app = await createApp(config, { logger });
      await app.listen();
      let stopping = false;
      const shutdown = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down');
        // Finish in-flight requests, then close the database; give up after shutdown_timeout.
        const timer = setTimeout(() => {
          logger.error('shutdown timed out');
          process.exit(1);
        }, config.shutdown_timeout);
        timer.unref();
        app.stop().then(
          () => {
            logger.info('stopped');
            logger.flush?.();
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    });
}
