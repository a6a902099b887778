export { AppError, invalid, isAppError } from './app-error.js';
export { errorCodes, type ErrorCode } from './error-codes.js';
