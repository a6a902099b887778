import pino, { type Logger } from 'pino';
import type { Config } from './config/config.js';

/** Paths that may carry credentials; pino replaces their values before anything is written. */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.password',
  '*.new_password',
  '*.current_password',
  '*.password_hash',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.api_key',
  '*.key',
  '*.secret',
  '*.secrets',
  '*.authorization',
];

export function createLogger(
  config: Pick<Config, 'log_level' | 'log_pretty'>,
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level: config.log_level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: { service: 'clarion' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(options, destination);
  if (config.log_pretty) return pino({ ...options, transport: { target: 'pino-pretty' } });
  return pino(options);
}
