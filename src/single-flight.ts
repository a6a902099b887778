/**
 * One run of an asynchronous task per key at a time: whoever asks for a key while its task runs gets the same
 * promise, so a burst of callers needing the same thing (a credential check, a spend read, a collection load)
 * does the work once. The key is free again as soon as the task settles.
 */
export class SingleFlight<K, V> {
  private readonly running = new Map<K, Promise<V>>();

  run(key: K, task: () => Promise<V>): Promise<V> {
    let p = this.running.get(key);
    if (!p) {
      const started: Promise<V> = task().finally(() => {
        if (this.running.get(key) === started) this.running.delete(key);
      });
      this.running.set(key, started);
      p = started;
    }
    return p;
  }

  /** How many tasks are running. */
  get size(): number {
    return this.running.size;
  }

  /** Lets later callers start their own task; the running ones still settle for those already waiting. */
  forget(): void {
    this.running.clear();
  }
}
