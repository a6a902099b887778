import type { Command } from 'commander';
import { createDatabase } from '../db/database.js';
import { migrate, pendingMigrations } from '../db/migrator.js';
import { configFrom } from './context.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (also done at every start)')
    .option('--status', 'only list pending migrations')
    .action(async (opts: { status?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const database = createDatabase({ url: config.database_url, dataDir: config.data_dir });
      try {
        if (opts.status) {
          const pending = await pendingMigrations(database);
          process.stdout.write(pending.length ? `pending: ${pending.join(', ')}\n` : 'up to date\n');
          return;
        }
        const applied = await migrate(database, undefined, {
          onLockWait: (m) => process.stderr.write(`${m}\n`),
        });
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
      } finally {
        await database.destroy();
      }
    });
}
