import { describe, expect, it } from 'vitest';
import { publishRunEvent } from '../engine/run-events.js';
import type { BusEvent } from './event-bus.js';
import { eventBusContract } from './event-bus.contract.js';
import { InProcessEventBus } from './in-process-event-bus.js';

eventBusContract('in-process', async () => new InProcessEventBus());

describe('InProcessEventBus.listened', () => {
  it('says whether a channel has a subscriber, until it unsubscribes or the bus closes', async () => {
    const bus = new InProcessEventBus();
    expect(bus.listened('run:1')).toBe(false);
    const off = bus.subscribe('run:1', () => {});
    expect(bus.listened('run:1')).toBe(true);
    expect(bus.listened('run:2')).toBe(false);
    off();
    expect(bus.listened('run:1')).toBe(false);
    bus.subscribe('run:1', () => {});
    await bus.close();
    expect(bus.listened('run:1')).toBe(false);
  });

  it('publishRunEvent delivers to the channels someone listens on, the same event on each', async () => {
    const bus = new InProcessEventBus();
    const got: [string, BusEvent][] = [];
    bus.subscribe('workflow:w1', (e) => got.push(['workflow', e]));
    bus.subscribe('dashboard', (e) => got.push(['dashboard', e]));
    const row = {
      run_id: 'r1',
      seq: 3,
      user_id: 'u1',
      workflow_id: 'w1',
      type: 'run.completed',
      step_key: null,
      data: '{"duration_ms":5}',
      created_at: '2026-12-07T00:00:00.000Z',
    };
    await publishRunEvent(bus, row);
    await publishRunEvent(bus, { ...row, seq: 4, type: 'step.completed', step_key: 'a' });
    expect(got.map(([c, e]) => [c, e.seq])).toEqual([
      ['workflow', 3],
      ['dashboard', 3],
      ['workflow', 4],
    ]);
    expect(got[0]![1]).toMatchObject({ run_id: 'r1', type: 'run.completed', data: { duration_ms: 5 }, _user: 'u1' });
  });
});
