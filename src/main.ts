#!/usr/bin/env node
import { buildProgram } from './cli/program.js';

// Commands are registered in src/cli/program.ts.
buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`clarion: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
