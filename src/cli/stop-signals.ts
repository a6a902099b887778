export type StopSignal = 'SIGTERM' | 'SIGINT';

const stopSignals: readonly StopSignal[] = ['SIGTERM', 'SIGINT'];

/**
 * Holds SIGTERM and SIGINT from the first line of main.ts until the command knows what they mean. Without a
 * listener Node's default action kills the process, and loading Clarion, migrating and building the server
 * take seconds: an orchestrator that stops a container while it starts got exit 143 and a database closed
 * mid-write instead of a clean stop.
 *
 * A long-running command (`serve`, `worker`) takes the signals over with `handle`, a signal caught before
 * then included; every other command calls `release`, which gives the default action back (and applies it
 * at once to a signal caught meanwhile), so Ctrl-C still ends `clarion backup` or `clarion run --follow`.
 *
 * Import nothing here: main.ts loads this module before the rest of Clarion, so it must stay small.
 */
export class StopSignals {
  private caught: StopSignal | undefined;
  private handler: ((signal: StopSignal) => void) | undefined;
  private released = false;
  private readonly listener = (signal: StopSignal): void => {
    if (this.handler) this.handler(signal);
    else this.caught ??= signal;
  };

  constructor() {
    for (const s of stopSignals) process.on(s, this.listener);
  }

  /** From now on a stop signal calls `handler`; one caught earlier calls it at once. */
  handle(handler: (signal: StopSignal) => void): void {
    this.handler = handler;
    if (this.caught) handler(this.caught);
  }

  /** Back to the default action (the process ends); a signal caught meanwhile ends it now. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const s of stopSignals) process.off(s, this.listener);
    if (this.caught) process.kill(process.pid, this.caught);
  }
}
