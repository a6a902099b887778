import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { createBackup, DB_NAME, restoreBackup } from '../backup/backup.js';
import { configFrom } from './context.js';

function sqliteFileOf(databaseUrl: string | undefined, dataDir: string): string {
  if (databaseUrl && /^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error('backup and restore cover the SQLite data folder; back up PostgreSQL with pg_dump / pg_restore');
  }
  return databaseUrl?.startsWith('sqlite:')
    ? path.resolve(databaseUrl.slice('sqlite:'.length))
    : path.join(dataDir, DB_NAME);
}

const passphraseOf = (opts: { passphraseEnv?: string }): string | undefined => {
  if (!opts.passphraseEnv) return undefined;
  const value = process.env[opts.passphraseEnv];
  if (!value) throw new Error(`the environment variable ${opts.passphraseEnv} is empty`);
  return value;
};

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description('write the data folder (database snapshot and key files) to FILE; safe while the server runs')
    .argument('<file>', 'archive to write (.tar.gz, or encrypted with --passphrase-env)')
    .option(
      '--passphrase-env <VAR>',
      'encrypt with the passphrase in this environment variable (recommended: the archive holds the master key)',
    )
    .action(async (file: string, opts: { passphraseEnv?: string }, cmd: Command) => {
      const config = configFrom(cmd);
      const sqliteFile = sqliteFileOf(config.database_url, config.data_dir);
      if (!fs.existsSync(sqliteFile)) throw new Error(`no database at ${sqliteFile}`);
      const r = await createBackup({
        sqliteFile,
        dataDir: config.data_dir,
        out: path.resolve(file),
        passphrase: passphraseOf(opts),
      });
      process.stdout.write(`backup written to ${r.file} (${r.bytes} bytes: ${r.files.join(', ')})\n`);
    });

  program
    .command('restore')
    .description('replace the data folder with a backup after checking it (stop the server first)')
    .argument('<file>', 'archive written by `clarion backup`')
    .option('--passphrase-env <VAR>', 'the passphrase of an encrypted archive, from this environment variable')
    .option('--yes', 'replace an existing database (it is kept beside the new one)')
    .action(async (file: string, opts: { passphraseEnv?: string; yes?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const sqliteFile = sqliteFileOf(config.database_url, config.data_dir);
      if (fs.existsSync(sqliteFile) && !opts.yes) {
        throw new Error(`a database exists at ${sqliteFile}; stop the server and pass --yes to replace it`);
      }
      const r = await restoreBackup({
        archive: fs.readFileSync(path.resolve(file)),
        sqliteFile,
        dataDir: config.data_dir,
        passphrase: passphraseOf(opts),
      });
      process.stdout.write(
        `restored ${r.restored.join(', ')}${r.previous ? `; the previous database is kept at ${r.previous}` : ''}\n`,
      );
    });
}
