/** A job claimed by one worker until its lease ends. */
export interface LeasedJob<P = unknown> {
  id: string;
  queue: string;
  key: string;
  payload: P;
  /** How many times it has been claimed (1 on the first claim). */
  attempts: number;
  leaseUntil: Date;
}

export interface EnqueueOptions {
  /** Not before this many milliseconds from now. */
  delayMs?: number;
}

/**
 * Work that survives crashes: a job is held under a lease that its worker renews; a job whose lease
 * ran out is claimed again by someone else. Jobs are unique per (queue, key): enqueueing a key that
 * is waiting moves it earlier, and enqueueing a key that is leased makes it run again once the
 * current holder lets go. Fits a table with leases (embedded) and BullMQ (jobId = key, extendLock).
 */
export interface JobQueue {
  enqueue<P>(queue: string, key: string, payload: P, opts?: EnqueueOptions): Promise<void>;
  /** Claims up to `limit` due jobs for `owner`. */
  claim<P>(queue: string, owner: string, opts: { limit: number; leaseMs: number }): Promise<LeasedJob<P>[]>;
  /** Extends the lease; false when the job is no longer this owner's (the worker must stop working on it). */
  renew(job: LeasedJob, owner: string, leaseMs: number): Promise<boolean>;
  /** Finished: removed, unless it was enqueued again meanwhile (then it is due again). */
  complete(job: LeasedJob, owner: string): Promise<boolean>;
  /** Gives the job back to run again after `delayMs` (or earlier if enqueued meanwhile). */
  release(job: LeasedJob, owner: string, delayMs: number): Promise<boolean>;
  /** Jobs waiting or leased in a queue (for /ready and metrics). */
  size(queue: string): Promise<number>;
}
