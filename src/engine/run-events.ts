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
  const channels = [`run:${e.run_id}`, `workflow:${e.workflow_id}`, `user:${e.user_id}`];
  if (e.type.startsWith('run.')) channels.push('dashboard');
  // On the in-process bus most events have no listener (nobody is watching that run): skip parsing and copying.
  const live = bus.listened ? channels.filter((c) => bus.listened!(c)) : channels;
  if (live.length === 0) return;
  const ev = { ...toRunEvent(e), _user: e.user_id };
  for (const c of live) await bus.publish(c, ev);
}
