import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventBus } from '../events/event-bus.js';
import type { RunsTable } from '../workflows/workflows.tables.js';
import type { RunEvent } from './run-events.js';
import type { RunService } from './run.service.js';

const FINAL = new Set(['run.completed', 'run.failed', 'run.cancelled']);

/**
 * On a response opened as an event stream (`openEventStream`): replays stored events after `after`, then follows
 * the live ones in sequence order (filling any gap from the store), and ends after the run's final event or when
 * the client goes away.
 */
export async function streamRunEvents(
  req: IncomingMessage,
  res: ServerResponse,
  o: {
    runs: RunService;
    bus: EventBus;
    run: RunsTable;
    after: number;
    /** Open streams, ended when the server closes (a client reconnects with Last-Event-ID). */
    open?: Set<() => void>;
  },
): Promise<void> {
  let last = o.after;
  let closed = false;
  let chain = Promise.resolve();
  const send = (e: RunEvent) => {
    if (closed || e.seq <= last) return;
    last = e.seq;
    res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    if (FINAL.has(e.type)) finish();
  };
  const readMissed = async () => {
    if (!closed) for (const e of await o.runs.eventsOfOwned(o.run, last)) send(e);
  };
  // Everything goes through one chain so events leave in sequence order.
  const enqueue = (work: () => Promise<void> | void) => {
    chain = chain.then(work).catch(() => finish());
    return chain;
  };
  const off = o.bus.subscribe(`run:${o.run.id}`, (raw) => {
    const { _user: _u, ...e } = raw as unknown as RunEvent & { _user?: string };
    // In order: send it; after a gap (events published out of order): read what we missed from the store.
    void enqueue(() => (e.seq === last + 1 ? send(e) : readMissed()));
  });
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  function finish() {
    if (closed) return;
    closed = true;
    o.open?.delete(finish);
    off();
    clearInterval(keepAlive);
    res.end();
  }
  req.on('close', finish);
  o.open?.add(finish);
  await enqueue(readMissed);
  // Already finished before we subscribed: everything has been sent.
  if (['completed', 'failed', 'cancelled'].includes(o.run.status)) finish();
}
