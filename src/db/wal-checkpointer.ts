import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

const SQLITE_DEFAULT_PAGES = 1000;
/** The checkpoint thread's nice value on Linux (the event loop's thread keeps the process's, usually 0). */
export const WORKER_NICE = 10;
const BACKSTOP_PAGES = 10 * SQLITE_DEFAULT_PAGES;

/**
 * WAL checkpoints on a worker thread instead of inside a commit on the event loop.
 *
 * SQLite copies the WAL back into the database file (a checkpoint) in whichever commit takes the WAL past 1,000
 * pages; with `synchronous = NORMAL` that commit also syncs both files. Measured here on the usage rows of the LLM
 * gateway (50-row batches every 20 ms, better-sqlite3 alone): a commit takes 0.6 ms, and the one in every ~25 that
 * checkpoints 10-17 ms, during which no request is served. A second connection on a worker thread checkpoints
 * instead, whenever another connection has committed since its last look, once every `intervalMs`: the same
 * commits then took at most 3-6 ms, p99 1.7-1.9 ms (docs/benchmarks.md, "sqlite-commit").
 *
 * The main connection keeps an automatic checkpoint as a backstop, at ten times SQLite's default (about 40 MB of
 * WAL), so the WAL stays bounded if the worker falls behind; if the worker fails, the default comes back.
 *
 * A thread costs ~8 MB of memory, so a server starts one only once its WAL has grown to half of what makes
 * SQLite checkpoint (`checkpointWhenWalGrows`): one that writes little never does.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private stopping: Promise<void> | undefined;
  private failed = false;
  private readonly exited: Promise<void>;
  private nextId = 0;
  private readonly waiting = new Map<number, (r: CheckpointResult) => void>();

  /** Starts checkpointing `file` (the database `sqlite` has open) on a worker thread, every `intervalMs`. */
  constructor(
    private readonly sqlite: SQLite.Database,
    file: string,
    private readonly onError: (err: Error) => void,
    intervalMs = 1000,
  ) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module: createRequire(import.meta.url).resolve('better-sqlite3'), file, intervalMs },
      // A CommonJS script whatever flags the process got (`--input-type=module` would make it a module).
      execArgv: [],
      // The thread needs little: a connection and a timer.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
    // Never what keeps the process alive; stop() ends it in an orderly way.
    this.worker.unref();
    this.worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') this.setAutocheckpoint(BACKSTOP_PAGES);
      else if (m.type === 'checkpointed') {
        this.waiting.get(m.id)?.(m.result);
        this.waiting.delete(m.id);
      } else if (m.type === 'error') this.fail(new Error(`WAL checkpoint failed: ${m.message}`));
    });
    this.worker.on('error', (err) => this.fail(err));
    this.exited = new Promise((resolve) => {
      this.worker.on('exit', (code) => {
        resolve();
        if (!this.stopping) this.fail(new Error(`WAL checkpoint thread exited with code ${code}`));
      });
    });
  }

  /** Checkpoints now (tests and diagnostics): the WAL's frames and how many are in the database file. */
  checkpoint(): Promise<CheckpointResult> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ type: 'checkpoint', id });
    });
  }

  /** A last checkpoint, then the thread's connection closes and the thread ends. */
  stop(): Promise<void> {
    if (!this.stopping) {
      // Unreferenced while it runs; its last checkpoint is waited for (else an otherwise idle process would exit
      // here, before the thread and the main connection had closed).
      this.worker.ref();
      this.worker.postMessage({ type: 'stop' });
      this.stopping = this.exited;
    }
    return this.stopping;
  }

  /** On the main connection, unless it was closed meanwhile (a handler that threw here would end the process). */
  private setAutocheckpoint(pages: number): void {
    if (this.sqlite.open) this.sqlite.pragma(`wal_autocheckpoint = ${pages}`);
  }

  /** The thread is gone or cannot checkpoint: the main connection checkpoints itself again, as SQLite does. */
  private fail(err: Error): void {
    if (this.failed || this.stopping) return;
    this.failed = true;
    this.setAutocheckpoint(SQLITE_DEFAULT_PAGES);
    this.onError(err);
    void this.worker.terminate();
  }
}

/** What `checkpointWhenWalGrows` started, or will once the WAL grows. */
export interface BackgroundCheckpoints {
  /** The thread, once started. */
  readonly checkpointer: WalCheckpointer | undefined;
  stop(): Promise<void>;
}

/**
 * Starts a WalCheckpointer for `file` once its WAL file reaches `thresholdBytes` (looked at every `pollMs`; by
 * default half of the WAL at which SQLite checkpoints, in the database's page size); until then SQLite checkpoints
 * in commits as usual.
 */
export function checkpointWhenWalGrows(
  sqlite: SQLite.Database,
  file: string,
  onError: (err: Error) => void,
  {
    thresholdBytes = (SQLITE_DEFAULT_PAGES / 2) * (sqlite.pragma('page_size', { simple: true }) as number),
    pollMs = 1000,
    intervalMs = 1000,
  } = {},
): BackgroundCheckpoints {
  let checkpointer: WalCheckpointer | undefined;
  const timer = setInterval(() => {
    if (!sqlite.open) {
      clearInterval(timer); // closed without stop()
      return;
    }
    let size: number;
    try {
      size = fs.statSync(`${file}-wal`).size;
    } catch {
      return; // no WAL yet
    }
    if (size < thresholdBytes) return;
    clearInterval(timer);
    checkpointer = new WalCheckpointer(sqlite, file, onError, intervalMs);
  }, pollMs);
  timer.unref();
  return {
    get checkpointer() {
      return checkpointer;
    },
    async stop() {
      clearInterval(timer);
      await checkpointer?.stop();
    },
  };
}

export interface CheckpointResult {
  /** Non-zero when a reader or writer kept the checkpoint from finishing (SQLITE_BUSY). */
  busy: number;
  /** Frames in the WAL. */
  log: number;
  /** Frames of the WAL now in the database file. */
  checkpointed: number;
}

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'checkpointed'; id: number; result: CheckpointResult }
  | { type: 'error'; message: string };

/**
 * The thread's code. It is a script of its own (not a file beside this one: the server is bundled into one file,
 * and better-sqlite3 is loaded from node_modules by the path the main thread resolved). `data_version` changes
 * when another connection has committed, so an idle database is never synced. PASSIVE never waits for readers
 * or writers: it copies what it can and the next round does the rest.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// Linux: the thread yields the core to the event loop when both want it (nice ${WORKER_NICE}, a per-thread setting
// there). Its work can wait; a request should not wait for it (its first collections took 5-9 ms of the core).
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  const os = require('node:os');
  if (os.getPriority(tid) < ${WORKER_NICE}) os.setPriority(tid, ${WORKER_NICE});
} catch {}
const Database = require(workerData.module);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('busy_timeout = 1000');
} catch (err) {
  parentPort.postMessage({ type: 'error', message: String(err && err.message) });
  process.exit(1);
}
let seen = -1;
const checkpoint = () => db.pragma('wal_checkpoint(PASSIVE)')[0];
function round() {
  try {
    const version = db.pragma('data_version', { simple: true });
    if (version !== seen) {
      seen = version;
      checkpoint();
    }
  } catch (err) {
    clearInterval(timer);
    parentPort.postMessage({ type: 'error', message: String(err && err.message) });
  }
}
const timer = setInterval(round, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m.type === 'checkpoint') {
    parentPort.postMessage({ type: 'checkpointed', id: m.id, result: checkpoint() });
  } else if (m.type === 'stop') {
    clearInterval(timer);
    try { checkpoint(); } catch {}
    db.close();
    process.exit(0);
  }
});
parentPort.postMessage({ type: 'ready' });
`;
