import { Command, Option } from 'commander';
import { version } from '../version.js';
import { registerBackupCommands } from './backup.command.js';
import { registerConfigCommand } from './config.command.js';
import { registerMigrateCommand } from './migrate.command.js';
import { registerSecretsCommands } from './secrets.command.js';
import { registerServeCommand } from './serve.command.js';
import { registerTokenCommands } from './token.command.js';
import { registerUserCommands } from './user.command.js';
import { registerWorkerCommand } from './worker.command.js';
import { registerWorkflowCommands } from './workflow.command.js';
import { registerRunCommands } from './run.command.js';
import type { StopSignals } from './stop-signals.js';

/** Commands that run until stopped and take over SIGTERM/SIGINT; the others leave them to Node. */
const longRunning = new Set(['serve', 'worker']);

export interface ProgramOptions {
  /** SIGTERM/SIGINT as main.ts caught them from its first line (see StopSignals). */
  signals?: StopSignals;
}

/** The `clarion` command line. Built fresh per call so tests can run commands in-process. */
export function buildProgram(opts: ProgramOptions = {}): Command {
  const { signals } = opts;
  const program = new Command()
    .name('clarion')
    .description('Self-hosted platform for running AI agents against real systems.')
    .version(version)
    .addOption(
      new Option('-c, --config <file>', 'YAML config file (default: ./clarion.yaml if present)').env('CLARION_CONFIG'),
    )
    .showHelpAfterError()
    .hook('preAction', (_program, action) => {
      if (action.parent !== program || !longRunning.has(action.name())) signals?.release();
    });

  registerServeCommand(program, signals);
  registerWorkerCommand(program, signals);
  registerMigrateCommand(program);
  registerConfigCommand(program);
  registerUserCommands(program);
  registerTokenCommands(program);
  registerBackupCommands(program);
  registerSecretsCommands(program);
  registerWorkflowCommands(program);
  registerRunCommands(program);
  return program;
}
