/** A bad configuration value: names the key (env variable or file key) and what is allowed. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`Invalid configuration: ${key}: ${reason}`);
    this.name = 'ConfigError';
  }
}
