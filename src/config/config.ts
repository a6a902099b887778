import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError } from './config-error.js';
import { llmAliases, llmPrices, llmProviders } from './llm-settings.js';
import { bool, duration, enumOf, int, list, optionalString, size, string, type Setting } from './setting.js';
import { describeYamlProblem } from './yaml-problem.js';

/**
 * Every setting Clarion reads, in one table. The YAML key is the table key; the environment
 * variable is `CLARION_` + the key in upper case. Environment wins over the file.
 */
export const settings = {
  host: string('127.0.0.1', 'address to listen on'),
  port: int(8080, 0, 65535, 'port to listen on (0 picks a free one)'),
  data_dir: string('./data', 'folder for the SQLite database, keys and backups'),
  database_url: optionalString('postgres://... to use PostgreSQL; empty means SQLite in data_dir', {
    secret: true,
    check: (v) => /^(postgres(ql)?:\/\/|sqlite:)/.test(v) || 'a postgres:// URL or sqlite:PATH',
  }),
  redis_url: optionalString('redis://... for the BullMQ queue, the Redis event bus and the shared LLM response cache', {
    secret: true,
  }),
  log_level: enumOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info', 'log level'),
  log_pretty: bool(false, 'human-readable logs instead of JSON'),
  admin_username: string('admin', 'username of the admin created on first start'),
  admin_email: string('admin@localhost', 'email of the admin created on first start'),
  admin_password: optionalString('password of the first admin; generated and printed once when empty', {
    secret: true,
    check: (v) => v.length >= 8 || 'at least 8 characters',
  }),
  jwt_secret: optionalString('HMAC key for access tokens; generated into data_dir when empty', {
    secret: true,
    check: (v) => v.length >= 32 || 'at least 32 characters',
  }),
  secret_key: optionalString(
    'master key (base64, 32 bytes) for stored credentials; generated into data_dir when empty',
    {
      secret: true,
    },
  ),
  access_token_ttl: duration('15m', 'lifetime of an access JWT'),
  auth_cache_ttl: duration(
    '2s',
    'how long a checked access token or API key is trusted without another check (revocations on this node apply at once); 0s = check every request',
    { allowZero: true },
  ),
  refresh_token_ttl: duration('30d', 'lifetime of a refresh token family'),
  refresh_token_reuse_grace: duration(
    '10s',
    'how long a just-rotated refresh token may be presented again (a reload that lost the answer); 0s = never',
    { allowZero: true },
  ),
  open_registration: bool(false, 'let anyone register as a viewer (otherwise only admins create users)'),
  cors_origins: list([], 'origins allowed to call the API from a browser (exact matches)'),
  body_limit: size('1mb', 'largest request body'),
  max_page_size: int(100, 1, 10000, 'largest page a list returns'),
  rate_limit_ip_per_minute: int(1200, 1, 10_000_000, 'requests per minute from one address before authentication'),
  rate_limit_user_per_minute: int(2400, 1, 10_000_000, 'requests per minute for one user'),
  auth_attempts_per_minute: int(10, 1, 100_000, 'failed logins and bad credentials per minute from one address'),
  trust_proxy: bool(false, 'trust X-Forwarded-* headers'),
  shutdown_timeout: duration('10s', 'how long SIGTERM waits for in-flight requests'),
  public_url: optionalString('the URL users reach Clarion at (used for links and WebSocket origin checks)', {
    check: (v) => /^https?:\/\//.test(v) || 'an http(s) URL',
  }),
  web_dir: optionalString('folder of the built web UI (default: dist/web beside the server)'),
  metrics_enabled: bool(true, 'serve Prometheus metrics at /metrics'),
  metrics_public: bool(false, 'serve /metrics without credentials (otherwise it needs system:read, e.g. an API key)'),
  docs_enabled: bool(true, 'serve the OpenAPI UI at /docs'),
  memory_lexical_dimensions: int(384, 16, 8192, 'dimensions of the built-in lexical embedder for new collections'),
  memory_chunk_size: int(512, 16, 8192, 'tokens per chunk when a memory document is split'),
  memory_chunk_overlap: int(64, 0, 4096, 'tokens a chunk repeats from the one before'),
  memory_embedding_model: optionalString('default embedding model of provider-embedded memory collections'),
  memory_vector_index: enumOf(
    ['memory', 'sql'] as const,
    'memory',
    'vector index: in-process cache (checked against the database on each query) or a stateless SQL scan',
  ),
  memory_max_documents: int(1000, 1, 100_000, 'most documents one memory write request may carry'),
  memory_import_limit: size('256mb', 'largest memory export file that /api/v1/memory/import accepts'),
  llm_request_timeout: duration('60s', 'how long a model provider may take to answer (or between stream chunks)'),
  llm_max_retries: int(2, 0, 10, 'retries of a failed model call on the same deployment before falling back'),
  llm_retry_base: duration('200ms', 'first retry delay of a model call; doubles each retry, with jitter'),
  llm_max_retry_wait: duration('10s', 'longest Retry-After a model call waits for instead of failing over'),
  llm_cooldown_failures: int(3, 1, 1000, 'consecutive failures that put a deployment in cooldown'),
  llm_cooldown: duration('30s', 'how long a failing deployment is skipped'),
  llm_cache_ttl: duration('5m', 'lifetime of cached model answers'),
  llm_cache_entries: int(
    1000,
    0,
    10_000_000,
    'most model answers kept in the in-process cache (0 turns the cache off)',
  ),
  llm_cache_prefix: string(
    'clarion:llm-cache:',
    'key prefix of the LLM response cache in Redis (used with redis_url; keeps deployments sharing a Redis apart)',
  ),
  llm_autodetect: bool(true, 'offer OPENAI_API_KEY, ANTHROPIC_API_KEY and a local Ollama as providers at start'),
  llm_providers: llmProviders(
    'model providers defined here (read-only over the API); api_key is masked, api_key_env names a variable holding the key',
  ),
  llm_aliases: llmAliases('model aliases defined here: alias name to {strategy, deployments, delegate}'),
  llm_prices: llmPrices(
    'price overrides defined here: model name to {input_per_mtok, output_per_mtok, context_window}',
  ),
  // Workflow engine (issue 5)
  engine_enabled: bool(true, 'run the workflow executor inside `serve` (turn off on API-only nodes)'),
  engine_max_concurrent_runs: int(1000, 1, 100_000, 'runs one executor advances at once (the global cap per node)'),
  engine_max_runs_per_user: int(100, 1, 100_000, 'runs of one user active at once across all workers'),
  engine_lease: duration('30s', 'how long a worker holds a run before another may take it over'),
  engine_poll_interval: duration('250ms', 'how often an idle worker looks for due runs'),
  max_steps_per_run: int(1000, 1, 1_000_000, 'steps (foreach items included) one run may execute'),
  max_foreach_items: int(1000, 1, 1_000_000, 'items one foreach step may fan out to'),
  max_workflow_depth: int(5, 0, 100, 'how deep workflow.call may nest sub-workflows'),
  max_step_output: size('1mb', 'largest output (JSON) a step may store'),
} satisfies Record<string, Setting<unknown>>;

type Settings = typeof settings;
export type ConfigKey = keyof Settings;
export type Config = Readonly<{ [K in ConfigKey]: Settings[K] extends Setting<infer T> ? T : never }> & {
  /** Where each value came from, for `clarion config`. */
  readonly sources: Readonly<Record<ConfigKey, 'default' | 'file' | 'env' | 'override'>>;
  readonly configFile: string | undefined;
};

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of a YAML file; default `CLARION_CONFIG` or `./clarion.yaml` when it exists. */
  file?: string;
  /** Values set by code (tests, CLI flags), applied last. */
  overrides?: Partial<Record<ConfigKey, unknown>>;
  cwd?: string;
}

export const envName = (key: string): string => `CLARION_${key.toUpperCase()}`;

/** Reads, validates and freezes the configuration; throws ConfigError naming the key on a bad value. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicitFile = options.file ?? env.CLARION_CONFIG;
  const file = explicitFile ?? (fs.existsSync(path.join(cwd, 'clarion.yaml')) ? 'clarion.yaml' : undefined);
  const fileValues = file ? readYaml(path.resolve(cwd, file)) : {};

  for (const name of Object.keys(env)) {
    if (name.startsWith('CLARION_') && name !== 'CLARION_CONFIG' && !name.startsWith('CLARION_TEST_')) {
      const key = name.slice('CLARION_'.length).toLowerCase();
      if (!(key in settings)) {
        throw new ConfigError(name, `unknown setting; known: ${Object.keys(settings).map(envName).join(', ')}`);
      }
    }
  }

  const out: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const [key, setting] of Object.entries(settings) as [ConfigKey, Setting<unknown>][]) {
    const fromOverride = options.overrides?.[key];
    const fromEnv = env[envName(key)];
    const fromFile = fileValues[key];
    let raw: unknown;
    let where: string;
    if (fromOverride !== undefined) {
      raw = fromOverride;
      where = 'override';
      sources[key] = 'override';
    } else if (fromEnv !== undefined) {
      raw = fromEnv;
      where = envName(key);
      sources[key] = 'env';
    } else if (fromFile !== undefined) {
      raw = fromFile;
      where = `${file}: ${key}`;
      sources[key] = 'file';
    } else {
      out[key] = setting.default;
      sources[key] = 'default';
      continue;
    }
    const parsed = setting.parse(raw, { env });
    if (!parsed.ok) {
      // A structured setting names the wrong field and quotes only what is safe; the others quote the value.
      if (parsed.at !== undefined) throw new ConfigError(`${where}${parsed.at}`, parsed.error);
      throw new ConfigError(where, `${parsed.error} (got ${setting.secret ? '***' : JSON.stringify(raw)})`);
    }
    out[key] = parsed.value;
  }
  out.data_dir = path.resolve(cwd, out.data_dir as string);
  out.sources = Object.freeze(sources);
  out.configFile = file ? path.resolve(cwd, file) : undefined;
  return Object.freeze(out) as Config;
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, `cannot read config file: ${(err as Error).message}`);
  }
  // parseDocument rather than parse: parse throws and prints (process warnings) the yaml package's own
  // messages, which quote the broken line, and a line of this file may hold a secret.
  const parsed = YAML.parseDocument(text);
  const problem = parsed.errors[0];
  if (problem) throw new ConfigError(file, `invalid YAML ${describeYamlProblem(problem)}`);
  for (const warning of parsed.warnings) {
    process.emitWarning(`${file}: YAML ${describeYamlProblem(warning)}`, { code: 'CLARION_CONFIG_YAML' });
  }
  let doc: unknown;
  try {
    doc = parsed.toJS();
  } catch (err) {
    // Only alias resolution throws here; its message names the alias, which is source text too.
    throw new ConfigError(
      file,
      `invalid YAML: ${err instanceof ReferenceError ? 'an alias is unresolved or expands too much' : 'cannot be read as data'}`,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(file, 'must be a YAML mapping of settings');
  for (const key of Object.keys(doc)) {
    if (!(key in settings)) {
      throw new ConfigError(`${file}: ${key}`, `unknown setting; known: ${Object.keys(settings).join(', ')}`);
    }
  }
  return doc as Record<string, unknown>;
}

/** The effective config with every secret masked, for printing. */
export function describeConfig(config: Config): Record<string, { value: unknown; source: string; env: string }> {
  const out: Record<string, { value: unknown; source: string; env: string }> = {};
  for (const [key, setting] of Object.entries(settings) as [ConfigKey, Setting<unknown>][]) {
    const value = config[key];
    const masked = setting.show
      ? setting.show(value)
      : setting.secret && value !== undefined && value !== ''
        ? '********'
        : value;
    out[key] = { value: masked, source: config.sources[key], env: envName(key) };
  }
  return out;
}

export { ConfigError };
