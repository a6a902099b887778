import fs from 'node:fs/promises';
import { Type, type Static } from 'typebox';
import { AppError } from '../errors/index.js';
import { resolveInRoot } from '../targets/filesystem/safe-path.js';
import { runCommand } from '../targets/shell/run-command.js';
import { realRoot } from './file-limits.js';
import { targetOf } from './target-task-helpers.js';
import type { TaskDefinition } from './task.js';

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_OUTPUT_BYTES = 256 * 1024;
const STDERR_IN_ERROR = 2000;

const Input = Type.Object(
  {
    argv: Type.Array(Type.String({ maxLength: 65_536 }), {
      minItems: 1,
      maxItems: 1000,
      description: "program and arguments, run without a shell; argv[0] must be in the target's allowed_programs",
    }),
    stdin: Type.Optional(Type.String({ maxLength: 16 * 1024 * 1024 })),
    cwd: Type.Optional(
      Type.String({ minLength: 1, maxLength: 4096, description: "folder relative to the target's cwd" }),
    ),
    timeout_ms: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 3_600_000, description: "lowers the target's timeout (never raises it)" }),
    ),
    fail_on_error: Type.Optional(Type.Boolean({ description: 'a non-zero exit fails the step (default true)' })),
  },
  { additionalProperties: false },
);
const Output = Type.Object({
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
  signal: Type.Union([Type.String(), Type.Null()]),
  stdout: Type.String(),
  stderr: Type.String(),
  truncated: Type.Boolean(),
  duration_ms: Type.Integer(),
});
type Input = Static<typeof Input>;
type Output = Static<typeof Output>;

export const shellExecTask: TaskDefinition<Input, Output> = {
  type: 'shell.exec',
  description:
    "Run a program of a shell target's allowlist with an argv (no shell), a clean environment, a timeout that kills its process group, and capped output.",
  targetTypes: ['shell'],
  inputSchema: Input,
  outputSchema: Output,
  estimatedMs: 500,
  run: async (input, ctx) => {
    const target = await targetOf(ctx, 'shell');
    const { config } = target;
    let cwd = await realRoot(config.cwd, fs.realpath);
    if (input.cwd !== undefined) cwd = await resolveInRoot(cwd, input.cwd);
    const targetTimeout = config.timeout_ms ?? DEFAULT_TIMEOUT_MS;
    const timeoutMs = Math.min(input.timeout_ms ?? targetTimeout, targetTimeout);
    const result = await runCommand(input.argv, {
      cwd,
      allowedPrograms: config.allowed_programs,
      ...(config.env ? { env: config.env } : {}),
      timeoutMs,
      maxOutputBytes: config.max_output_bytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      signal: ctx.signal,
      ...(input.stdin !== undefined ? { stdin: input.stdin } : {}),
    });
    if (result.timedOut) {
      throw new AppError('COMMAND_TIMEOUT', `${input.argv[0]} ran longer than ${timeoutMs} ms and was killed.`, {
        timeout_ms: timeoutMs,
      });
    }
    if (result.exitCode !== 0 && (input.fail_on_error ?? true)) {
      throw new AppError(
        'COMMAND_FAILED',
        `${input.argv[0]} exited with ${result.exitCode === null ? `signal ${result.signal}` : `status ${result.exitCode}`}.`,
        { exit_code: result.exitCode, signal: result.signal, stderr: result.stderr.slice(-STDERR_IN_ERROR) },
      );
    }
    return {
      exit_code: result.exitCode,
      signal: result.signal,
      stdout: result.stdout,
      stderr: result.stderr,
      truncated: result.truncated,
      duration_ms: result.durationMs,
    };
  },
};
