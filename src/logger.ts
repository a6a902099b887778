import { createRequire } from 'node:module';
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

/**
 * pino's isoTime, made once per millisecond: a busy server writes many lines within one, and formatting
 * the date was 3% of a bare request.
 */
let lastMs = -1;
let lastTime = '';
export function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

export function createLogger(
  config: Pick<Config, 'log_level' | 'log_pretty'>,
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level: config.log_level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: { service: 'clarion' },
    timestamp: isoTime,
  };
  if (destination) return pino(options, destination);
  if (config.log_pretty) {
    // A stream in this thread, not a pino transport: a transport's worker is found by file path, and the
    // server runs bundled (scripts/build-server.mjs). pino-pretty is a dev dependency, loaded only here.
    const pretty = createRequire(import.meta.url)('pino-pretty') as (opts: object) => pino.DestinationStream;
    return pino(options, pretty({ sync: true }));
  }
  // Batched writes: lines are written when 4 KB have gathered or 250 ms have passed, so a busy server makes one
  // write per ~20 access lines instead of one each (a write per line was ~9% of the CPU of an authenticated
  // request). What is left is written when the process exits.
  return pino(options, new BufferedLines(1));
}

/** How many characters of lines are gathered before they are handed to the file as one buffer. */
const BATCH_CHARS = 4096;
/** The longest a line waits to be handed over when few are written. */
const BATCH_MS = 250;

/**
 * Gathers pino's lines and writes them to a file descriptor ~4 KB at a time (or after 250 ms), one Buffer per
 * batch. In its default (string) mode sonic-boom measures the byte length of the whole pending chunk (up to
 * 16 KB) on every line it appends: a tenth of the CPU of a bare request once lines queue behind a write. Making
 * a Buffer of each line instead was still ~3% of an authenticated request.
 *
 * The batches are written synchronously (sonic-boom's sync mode, which also waits out EAGAIN on a full pipe, as
 * pino's default destination does). Asynchronous writes cannot be finished at exit: a batch still in the
 * thread pool when flushSync() ran was written after the later lines, or not at all when the process ended
 * (seen in CI: the first 383 of 3,000 lines missing after a flushSync). One write per batch costs less than the
 * thread-pool round trip of an asynchronous one.
 */
export class BufferedLines implements pino.DestinationStream {
  private pending = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly sonic: ReturnType<typeof pino.destination>;
  private readonly onExit = (): void => this.flushSync();

  constructor(fd: number) {
    this.sonic = pino.destination({ dest: fd, sync: true, contentMode: 'buffer' });
    process.once('exit', this.onExit);
  }

  write(line: string): void {
    this.pending += line;
    if (this.pending.length >= BATCH_CHARS) this.handOver();
    else this.timer ??= setTimeout(() => this.handOver(), BATCH_MS).unref();
  }

  private handOver(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.sonic.write(Buffer.from(text) as unknown as string);
  }

  flush(cb?: (err?: Error) => void): void {
    this.handOver();
    this.sonic.flush(cb);
  }

  flushSync(): void {
    this.handOver();
    this.sonic.flushSync();
  }

  end(): void {
    this.handOver();
    process.removeListener('exit', this.onExit);
    this.sonic.end();
  }
}

/**
 * Writes the access line of each request, `{"level":30,"time":…,"service":"clarion","reqId":…,"method":…,"url":…,
 * "status":…,"ms":…,"user":…,"msg":"request"}`, to the same destination and at the same level as `logger`, the
 * line pino would write for those fields. Built here rather than by pino: its general path (serialising an object
 * field by field, with level and hook checks) was a tenth of the CPU of an authenticated request for six known
 * fields. The line is not redacted: it holds only the method, the route pattern (or the path, never the query
 * string), the status, the time taken and ids, none of which can carry a credential.
 */
export class AccessLog {
  private readonly stream: pino.DestinationStream;

  constructor(private readonly logger: Logger) {
    this.stream =
      (logger as unknown as Record<symbol, pino.DestinationStream>)[pino.symbols.streamSym] ?? pino.destination(1);
  }

  write(reqId: string, method: string, url: string, status: number, ms: number, user: string | undefined): void {
    // The level is read on each line: it may be changed while the server runs.
    if (this.logger.levelVal > 30) return;
    this.stream.write(
      `{"level":30${isoTime()},"service":"clarion","reqId":${JSON.stringify(reqId)},"method":${JSON.stringify(method)},` +
        `"url":${JSON.stringify(url)},"status":${status},"ms":${ms}` +
        `${user === undefined ? '' : `,"user":${JSON.stringify(user)}`},"msg":"request"}\n`,
    );
  }
}

type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A request's logger, made on first use: most requests write only their access line, and building a
 * pino child for each (serialising its bindings) cost 4% of a bare request. Used as Fastify's
 * childLoggerFactory.
 */
export class LazyChildLogger {
  private real: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: pino.Bindings,
    private readonly options: pino.ChildLoggerOptions,
  ) {}

  private get log(): Logger {
    return (this.real ??= this.parent.child(this.bindings, this.options));
  }

  get level(): pino.LevelWithSilentOrString {
    return this.real?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: pino.LevelWithSilentOrString) {
    this.log.level = level;
  }

  private call(method: LogMethod, args: unknown[]): void {
    if (!this.parent.isLevelEnabled(method) && !this.real) return;
    (this.log[method] as (...a: unknown[]) => void)(...args);
  }

  fatal(...args: unknown[]): void {
    this.call('fatal', args);
  }
  error(...args: unknown[]): void {
    this.call('error', args);
  }
  warn(...args: unknown[]): void {
    this.call('warn', args);
  }
  info(...args: unknown[]): void {
    this.call('info', args);
  }
  debug(...args: unknown[]): void {
    this.call('debug', args);
  }
  trace(...args: unknown[]): void {
    this.call('trace', args);
  }
  silent(): void {}

  child(bindings: pino.Bindings, options?: pino.ChildLoggerOptions): Logger {
    return this.log.child(bindings, options);
  }
}
