import type { Command } from 'commander';
import { describeConfig } from '../config/config.js';
import { configFrom, print } from './context.js';

export function registerConfigCommand(program: Command): void {
  program
    .command('config')
    .description('print the effective configuration, secrets masked')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const described = describeConfig(config);
      if (opts.json) return print(described, true);
      if (config.configFile) process.stdout.write(`# file: ${config.configFile}\n`);
      for (const [key, { value, source, env }] of Object.entries(described)) {
        process.stdout.write(`${key} = ${JSON.stringify(value ?? null)}    # ${source}, ${env}\n`);
      }
    });
}
