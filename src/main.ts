#!/usr/bin/env node
import { StopSignals } from './cli/stop-signals.js';

// Caught before the rest of Clarion loads (that alone takes a second or more): a SIGTERM while `serve` or
// `worker` starts must stop it cleanly, not kill it. The other commands give the signals back to Node.
const signals = new StopSignals();

// Commands are registered in src/cli/program.ts.
import('./cli/program.js')
  .then(({ buildProgram }) => buildProgram({ signals }).parseAsync(process.argv))
  .catch((err: unknown) => {
    process.stderr.write(`clarion: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
