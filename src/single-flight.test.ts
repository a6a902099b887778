import { describe, expect, it } from 'vitest';
import { SingleFlight } from './single-flight.js';

describe('SingleFlight', () => {
  it('shares a running task per key, and runs it again once settled', async () => {
    const f = new SingleFlight<string, number>();
    let runs = 0;
    let release!: (n: number) => void;
    const task = () => (runs++, new Promise<number>((r) => (release = r)));
    const a = f.run('k', task);
    const b = f.run('k', task);
    expect(a).toBe(b);
    expect(f.size).toBe(1);
    release(7);
    expect(await a).toBe(7);
    expect(f.size).toBe(0);
    const c = f.run('k', async () => (runs++, 8));
    expect(await c).toBe(8);
    expect(runs).toBe(2);
  });

  it('frees the key after a failure, and after forget() starts anew while the old task still settles', async () => {
    const f = new SingleFlight<string, number>();
    await expect(f.run('k', async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(f.size).toBe(0);
    let release!: (n: number) => void;
    const old = f.run('k', () => new Promise<number>((r) => (release = r)));
    f.forget();
    const fresh = f.run('k', async () => 2);
    expect(fresh).not.toBe(old);
    release(1);
    expect(await old).toBe(1);
    expect(await fresh).toBe(2);
  });
});
