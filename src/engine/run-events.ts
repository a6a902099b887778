import { fromJson } from '../db/json.js';
import type { EventBus } from '../events/event-bus.js';
import type { RunEventsTable } from '../workflows/workflows.tables.js';

export type StoredEvent = RunEventsTable;

/** The shape of a run event on the wire (SSE, WebSocket, API). */
export interface RunEvent {
  run_id: string;
  workflow_id: string;
  seq: number;
  type: string;
  step: string | null;
  data: Record<string, unknown>;
  at: string;
}

export function toRunEvent(e: StoredEvent): RunEvent {
  return {
    run_id: e.run_id,
    workflow_id: e.workflow_id,
    seq: e.seq,
    type: e.type,
    step: e.step_key,
    data: fromJson(e.data, {}),
    at: e.created_at,
  };
}

/**
 * Fans a committed event out to the channels clients subscribe to. The owner rides along (as
 * `_user`) so the WebSocket hub can check who may see it; the hub strips it before sending.
 */
export async function publishRunEvent(bus: EventBus, e: StoredEvent): Promise<void> {
  const ev = { ...toRunEvent(e), _user: e.user_id };
  await bus.publish(`run:${e.run_id}`, ev);
  await bus.publish(`workflow:${e.workflow_id}`, ev);
  await bus.publish(`user:${e.user_id}`, ev);
  if (e.type.startsWith('run.')) await bus.publish('dashboard', ev);
}
