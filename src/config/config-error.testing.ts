import { expect } from 'vitest';
import { ConfigError } from './config-error.js';

/** The ConfigError a load throws (fails the test when it does not throw one). Shared by the config tests. */
export function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}
