import { Type } from 'typebox';
import { parseDuration } from '../config/setting.js';
import { FatalTaskError } from '../engine/task-errors.js';
import type { TaskDefinition } from './task.js';

const MAX_DELAY_MS = 24 * 3_600_000;

/** Sleeps (cancellable). For long pauses prefer a `wait:` step, which does not hold a worker. */
export const delayTask: TaskDefinition<{ duration: string | number }, { slept_ms: number }> = {
  type: 'delay',
  description: 'Pause for a duration (e.g. 500ms, 10s) while holding the step.',
  targetTypes: [],
  inputSchema: Type.Object(
    { duration: Type.Union([Type.String(), Type.Number({ minimum: 0 })]) },
    { additionalProperties: false },
  ),
  outputSchema: Type.Object({ slept_ms: Type.Number() }),
  run: async (input, ctx) => {
    const ms = parseDuration(input.duration);
    if (ms === undefined || ms > MAX_DELAY_MS) {
      throw new FatalTaskError(
        `duration must be a duration up to 24h, got ${JSON.stringify(input.duration)}`,
        'VALIDATION_FAILED',
      );
    }
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(done, ms);
      function done() {
        ctx.signal.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort() {
        clearTimeout(timer);
        reject(new Error('aborted'));
      }
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
    return { slept_ms: Date.now() - started };
  },
};
