import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobQueue } from './job-queue.js';

/**
 * The behaviour every JobQueue must show. Run it once per implementation:
 * `jobQueueContract('table/sqlite', async () => ({ queue, close }))`.
 */
export function jobQueueContract(name: string, make: () => Promise<{ queue: JobQueue; close: () => Promise<void> }>) {
  describe(`JobQueue contract: ${name}`, () => {
    let queue: JobQueue;
    let close: () => Promise<void>;
    beforeEach(async () => {
      ({ queue, close } = await make());
    });
    afterEach(async () => close());

    it('hands a due job to one claimer only, with its payload', async () => {
      await queue.enqueue('q', 'k1', { n: 1 });
      const [a, b] = await Promise.all([
        queue.claim('q', 'w1', { limit: 10, leaseMs: 10_000 }),
        queue.claim('q', 'w2', { limit: 10, leaseMs: 10_000 }),
      ]);
      const all = [...a!, ...b!];
      expect(all).toHaveLength(1);
      expect(all[0]).toMatchObject({ key: 'k1', payload: { n: 1 }, attempts: 1 });
    });

    it('keeps one job per key and does not hand out delayed jobs early', async () => {
      await queue.enqueue('q', 'k', { v: 1 }, { delayMs: 60_000 });
      await queue.enqueue('q', 'k', { v: 2 }, { delayMs: 120_000 });
      expect(await queue.size('q')).toBe(1);
      expect(await queue.claim('q', 'w', { limit: 5, leaseMs: 1000 })).toHaveLength(0);
      await queue.enqueue('q', 'k', { v: 3 });
      const got = await queue.claim('q', 'w', { limit: 5, leaseMs: 1000 });
      expect(got.map((j) => j.payload)).toEqual([{ v: 3 }]);
    });

    it('gives an expired lease to another worker, and the old owner can no longer renew or complete', async () => {
      await queue.enqueue('q', 'k', {});
      const [job] = await queue.claim('q', 'w1', { limit: 1, leaseMs: 30 });
      await new Promise((r) => setTimeout(r, 60));
      const [again] = await queue.claim('q', 'w2', { limit: 1, leaseMs: 10_000 });
      expect(again?.key).toBe('k');
      expect(again?.attempts).toBe(2);
      expect(await queue.renew(job!, 'w1', 10_000)).toBe(false);
      expect(await queue.complete(job!, 'w1')).toBe(false);
      expect(await queue.renew(again!, 'w2', 10_000)).toBe(true);
      expect(await queue.complete(again!, 'w2')).toBe(true);
      expect(await queue.size('q')).toBe(0);
    });

    it('a renewed lease is not taken over', async () => {
      await queue.enqueue('q', 'k', {});
      const [job] = await queue.claim('q', 'w1', { limit: 1, leaseMs: 200 });
      expect(await queue.renew(job!, 'w1', 10_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 250));
      expect(await queue.claim('q', 'w2', { limit: 1, leaseMs: 1000 })).toHaveLength(0);
    });

    it('a job enqueued again while leased runs again after completion', async () => {
      await queue.enqueue('q', 'k', { v: 1 });
      const [job] = await queue.claim('q', 'w1', { limit: 1, leaseMs: 10_000 });
      await queue.enqueue('q', 'k', { v: 2 });
      expect(await queue.claim('q', 'w2', { limit: 1, leaseMs: 1000 })).toHaveLength(0);
      await queue.complete(job!, 'w1');
      const [next] = await queue.claim('q', 'w2', { limit: 1, leaseMs: 1000 });
      expect(next?.payload).toEqual({ v: 2 });
    });

    it('completes of many jobs at once each answer for their own job', async () => {
      for (let i = 0; i < 600; i++) await queue.enqueue('q', `k${i}`, { i });
      const jobs = [];
      while (jobs.length < 600) jobs.push(...(await queue.claim('q', 'w1', { limit: 100, leaseMs: 10_000 })));
      // One enqueued again while leased (it must stay, due again) and one completed by the wrong owner.
      const again = jobs[7]!;
      await queue.enqueue('q', again.key, { again: true });
      const results = await Promise.all(
        jobs.map((j, i) => (i === 11 ? queue.complete(j, 'someone-else') : queue.complete(j, 'w1'))),
      );
      expect(results.filter((r) => !r)).toHaveLength(1);
      expect(results[11]).toBe(false);
      const left = await queue.claim('q', 'w2', { limit: 10, leaseMs: 1000 });
      expect(left.map((j) => j.key)).toEqual([again.key]);
      expect(left[0]!.payload).toEqual({ again: true });
      expect(await queue.complete(jobs[11]!, 'w1')).toBe(true);
      expect(await queue.size('q')).toBe(1);
    });

    it('release puts a job back after a delay', async () => {
      await queue.enqueue('q', 'k', {});
      const [job] = await queue.claim('q', 'w1', { limit: 1, leaseMs: 10_000 });
      expect(await queue.release(job!, 'w1', 60_000)).toBe(true);
      expect(await queue.claim('q', 'w2', { limit: 1, leaseMs: 1000 })).toHaveLength(0);
      await queue.enqueue('q', 'k', {});
      expect(await queue.claim('q', 'w2', { limit: 1, leaseMs: 1000 })).toHaveLength(1);
    });

    it('queues are separate and claims respect the limit', async () => {
      for (let i = 0; i < 5; i++) await queue.enqueue('a', `k${i}`, { i });
      await queue.enqueue('b', 'k0', {});
      expect(await queue.claim('a', 'w', { limit: 3, leaseMs: 1000 })).toHaveLength(3);
      expect(await queue.claim('a', 'w', { limit: 3, leaseMs: 1000 })).toHaveLength(2);
      expect(await queue.claim('b', 'w', { limit: 3, leaseMs: 1000 })).toHaveLength(1);
    });
  });
}
