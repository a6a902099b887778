import type { Command } from 'commander';
import { createDatabase } from '../db/database.js';
import { migrate } from '../db/migrator.js';
import { rotateConfiguredKey, rotateKeyFile } from '../secrets/rotate.js';
import { configFrom, print } from './context.js';

export function registerSecretsCommands(program: Command): void {
  const secrets = program.command('secrets').description('stored credentials and the master key');
  secrets
    .command('rotate')
    .description(
      're-encrypt every stored credential under a new master key (stop the server first; it holds the old key)',
    )
    .option('--new-key <key>', 'the new key (base64 of 32 bytes, or 64 hex); generated when omitted')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { newKey?: string; json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const database = createDatabase({ url: config.database_url, dataDir: config.data_dir });
      try {
        await migrate(database);
        let result;
        if (config.secret_key) {
          if (!opts.newKey) {
            throw new Error(
              'the master key comes from CLARION_SECRET_KEY (or secret_key in the config file): pass --new-key, then set the setting to that key before the next start',
            );
          }
          result = await rotateConfiguredKey(database.db, config.secret_key, opts.newKey);
        } else {
          result = await rotateKeyFile(database.db, config.data_dir, opts.newKey);
        }
        const total = Object.values(result.tables).reduce((a, b) => a + b, 0);
        if (opts.json) print(result, true);
        else {
          print(
            [
              `master key rotated: ${result.oldKeyId} -> ${result.newKeyId}`,
              ...Object.entries(result.tables).map(([t, n]) => `  ${t}: ${n} row(s) re-encrypted`),
              `  total: ${total}`,
              config.secret_key ? '  now set CLARION_SECRET_KEY to the new key before starting Clarion' : '',
            ]
              .filter(Boolean)
              .join('\n'),
            false,
          );
        }
      } finally {
        await database.destroy();
      }
    });
}
