import { errorCodes, type ErrorCode } from './error-codes.js';

/**
 * The error every layer throws for an expected failure. The HTTP layer turns it into
 * `{ error: { code, message, details } }` with the registry's status.
 */
export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: Record<string, unknown>,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers?: Record<string, string>,
  ) {
    super(message ?? errorCodes[code].message);
    this.name = 'AppError';
    this.status = errorCodes[code].status;
  }
}

/** A 400 for one offending field: `field` is a JSON path such as `/steps/0/id` or a name. */
export function invalid(field: string, message: string, extra: Record<string, unknown> = {}): AppError {
  return new AppError('VALIDATION_FAILED', `${field}: ${message}`, { field, ...extra });
}

export const isAppError = (err: unknown): err is AppError => err instanceof AppError;
