/** A published event: any JSON object. Run events carry `seq`, `type`, `run_id`. */
export type BusEvent = Record<string, unknown>;

/**
 * Live fan-out of events to subscribers (WebSocket hub, SSE, engine wake-ups). Delivery is
 * best effort and in publish order per channel; durable history lives in `run_events`.
 * Channels: `run:<id>`, `workflow:<id>`, `dashboard`, `user:<id>`, `engine`, `llm` (provider, alias and price
 * changes) and `llm:budgets` (budget changes): RegistrySync.
 */
export interface EventBus {
  publish(channel: string, event: BusEvent): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(channel: string, handler: (event: BusEvent) => void): () => void;
  /**
   * False when publishing on `channel` would reach nobody, so a publisher may skip building the event. Only a bus
   * that sees every subscriber (the in-process one) implements it; others reach other processes.
   */
  listened?(channel: string): boolean;
  /**
   * Resolves once every subscription made so far is in effect, where subscribing is asynchronous (Redis). A part
   * that loads state and then subscribes to its changes reads again after this, to catch what came in between.
   */
  ready?(): Promise<void>;
  close(): Promise<void>;
}
