import type { Logger } from 'pino';
import type { App } from '../app.js';
import type { Config } from '../config/config.js';
import { createLogger } from '../logger.js';
import { StopSignals } from './stop-signals.js';

export interface RunUntilStoppedOptions {
  config: Config;
  /** Those main.ts caught from its first line; without them (in-process tests) they are caught here. */
  signals: StopSignals | undefined;
  /** Builds (and for `serve` opens) the app; gives up at its next step once `abort` fires. */
  start: (abort: AbortSignal, logger: Logger) => Promise<App>;
  /** Logged when the stop begins and when it is done. */
  messages: { stopping: string; stopped: string };
}

/**
 * Runs `serve` or `worker` until SIGTERM or SIGINT, then stops and exits: 0 once everything is closed, 1 when
 * the stop fails or outlasts `shutdown_timeout`. A signal that comes while the app is still starting (migrating,
 * building the server) aborts the start, which closes what it had opened (the database last), and also
 * exits 0: a stop requested during start-up is a stop, not a crash. Resolves once started; rejects when the
 * start fails for any other reason (the caller prints it and exits 1).
 */
export async function runUntilStopped(o: RunUntilStoppedOptions): Promise<void> {
  const logger = createLogger(o.config);
  const abort = new AbortController();
  const exit = (code: number): void => {
    logger.flush?.();
    process.exit(code);
  };
  const aborted = (err: unknown): boolean => abort.signal.aborted && err === abort.signal.reason;
  // Begins a turn later, once the signals are taken over below: a signal caught while Clarion was loading has
  // then aborted the start before it opens anything.
  const started = Promise.resolve().then(() => o.start(abort.signal, logger));
  let stopping = false;

  (o.signals ?? new StopSignals()).handle((signal) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, o.messages.stopping);
    const timer = setTimeout(() => {
      logger.error('shutdown timed out');
      exit(1);
    }, o.config.shutdown_timeout);
    timer.unref();
    abort.abort();
    // The app, once started, finishes in-flight requests and closes; an aborted start has closed itself.
    void started
      .then(
        (app) => app.stop(),
        (err: unknown) => {
          if (!aborted(err)) throw err;
          logger.info('start abandoned');
        },
      )
      .then(
        () => {
          logger.info(o.messages.stopped);
          exit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          exit(1);
        },
      );
  });

  try {
    await started;
  } catch (err) {
    // The stop above exits once the start has let go; a start that failed on its own is the caller's to report.
    if (!aborted(err)) throw err;
  }
}
