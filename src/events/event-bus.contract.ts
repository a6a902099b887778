import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BusEvent, EventBus } from './event-bus.js';

const settle = () => new Promise((r) => setTimeout(r, 20));

/** The behaviour every EventBus must show; run once per implementation. */
export function eventBusContract(name: string, make: () => Promise<EventBus>) {
  describe(`EventBus contract: ${name}`, () => {
    let bus: EventBus;
    beforeEach(async () => {
      bus = await make();
    });
    afterEach(async () => bus.close());

    it('delivers to every subscriber of a channel, in publish order, and only that channel', async () => {
      const a: BusEvent[] = [];
      const b: BusEvent[] = [];
      const other: BusEvent[] = [];
      bus.subscribe('run:1', (e) => a.push(e));
      bus.subscribe('run:1', (e) => b.push(e));
      bus.subscribe('run:2', (e) => other.push(e));
      for (let i = 0; i < 5; i++) await bus.publish('run:1', { seq: i });
      await settle();
      expect(a.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
      expect(b).toEqual(a);
      expect(other).toEqual([]);
    });

    it('stops delivering after unsubscribe', async () => {
      const got: BusEvent[] = [];
      const off = bus.subscribe('c', (e) => got.push(e));
      await bus.publish('c', { n: 1 });
      await settle();
      off();
      await bus.publish('c', { n: 2 });
      await settle();
      expect(got).toEqual([{ n: 1 }]);
    });

    it('a throwing subscriber does not stop the others', async () => {
      const got: BusEvent[] = [];
      bus.subscribe('c', () => {
        throw new Error('boom');
      });
      bus.subscribe('c', (e) => got.push(e));
      await bus.publish('c', { n: 1 });
      await settle();
      expect(got).toEqual([{ n: 1 }]);
    });
  });
}
