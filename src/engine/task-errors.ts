/**
 * Signals a task throws to tell the engine what to do with a failure (like BullMQ's
 * UnrecoverableError). Any other error is retried by the step's retry policy, except an
 * AppError with a 4xx status (bad input will not get better by retrying).
 */
export class FatalTaskError extends Error {
  constructor(
    message: string,
    readonly code = 'TASK_FAILED',
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'FatalTaskError';
  }
}

/** Retry this attempt after `delayMs` (e.g. an upstream's Retry-After), within the retry policy's attempts. */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
    readonly code = 'RETRY_LATER',
  ) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

/** Park the step until a person approves (then it runs again) or rejects (then it fails). */
export class WaitForPersonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WaitForPersonError';
  }
}

/** Park the step until another run finishes; its outputs become the step's output (workflow.call). */
export class WaitForRunError extends Error {
  constructor(readonly runId: string) {
    super(`waiting for run ${runId}`);
    this.name = 'WaitForRunError';
  }
}
