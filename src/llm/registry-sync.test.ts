import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventBus } from '../events/event-bus.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { until } from '../../test/helpers/until.js';
import { BUDGETS_CHANNEL, LLM_CHANNEL, RegistrySync, type Reloadable } from './registry-sync.js';

/** A registry whose loads the test finishes by hand, counting them and how many ran at once. */
class FakeRegistry implements Reloadable {
  loads = 0;
  inFlight = 0;
  maxInFlight = 0;
  failNext = 0;
  announce: () => void = () => {};
  private waiting: (() => void)[] = [];

  load(): Promise<void> {
    this.loads++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const fail = this.failNext > 0;
    if (fail) this.failNext--;
    return new Promise<void>((resolve, reject) => {
      this.waiting.push(() => {
        this.inFlight--;
        if (fail) reject(new Error('database unreachable'));
        else resolve();
      });
    });
  }

  /** Finishes the load in progress. */
  finish(): void {
    this.waiting.shift()?.();
  }

  setAnnouncer(announce: () => void): void {
    this.announce = announce;
  }
}

const logger = pino({ level: 'silent' });
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('RegistrySync', () => {
  let bus: EventBus;
  const syncs: RegistrySync[] = [];
  const node = (registry: FakeRegistry, retryMs?: number) => {
    const s = new RegistrySync(registry, bus, logger, { channel: LLM_CHANNEL, what: 'test state', retryMs });
    s.start();
    syncs.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of syncs.splice(0)) await s.stop();
    await bus.close();
  });

  it("reloads on another node's announcement, not on its own", async () => {
    bus = new InProcessEventBus();
    const a = new FakeRegistry();
    const b = new FakeRegistry();
    node(a);
    node(b);
    a.announce();
    await tick();
    expect(a.loads).toBe(0);
    expect(b.loads).toBe(1);
    b.finish();
    await tick();
    expect(b.loads).toBe(1);
  });

  it('coalesces a burst: one reload at a time, one more after it for whatever came meanwhile', async () => {
    bus = new InProcessEventBus();
    const b = new FakeRegistry();
    node(b);
    const other = () => bus.publish(LLM_CHANNEL, { type: 'changed', origin: 'another-node' });
    await other();
    for (let i = 0; i < 5; i++) await other();
    expect(b.loads).toBe(1);
    b.finish();
    await until(() => b.loads === 2);
    b.finish();
    await tick();
    expect(b.loads).toBe(2);
    expect(b.maxInFlight).toBe(1);
  });

  it('retries a failed reload after a delay', async () => {
    bus = new InProcessEventBus();
    const b = new FakeRegistry();
    node(b, 30);
    b.failNext = 1;
    await bus.publish(LLM_CHANNEL, { type: 'changed', origin: 'another-node' });
    b.finish();
    await until(() => b.loads === 2);
    b.finish();
    await new Promise((r) => setTimeout(r, 60));
    expect(b.loads).toBe(2);
  });

  it('retries a failed reload at once on the next announcement, instead of on the timer', async () => {
    bus = new InProcessEventBus();
    const b = new FakeRegistry();
    node(b, 200);
    const other = () => bus.publish(LLM_CHANNEL, { type: 'changed', origin: 'another-node' });
    b.failNext = 1;
    await other();
    b.finish();
    await tick();
    await other();
    expect(b.loads).toBe(2);
    b.finish();
    // The announcement replaced the timer: no third try comes from it.
    await new Promise((r) => setTimeout(r, 250));
    expect(b.loads).toBe(2);
  });

  it('unsubscribes, stops announcing and waits for the reload in progress on stop', async () => {
    bus = new InProcessEventBus();
    const a = new FakeRegistry();
    const b = new FakeRegistry();
    node(a);
    const sb = node(b);
    a.announce();
    let stopped = false;
    const stopping = sb.stop().then(() => (stopped = true));
    await tick();
    expect(stopped).toBe(false);
    b.finish();
    await stopping;
    a.announce();
    await tick();
    expect(b.loads).toBe(1);
    // The stopped node's registry no longer announces either.
    b.announce();
    await tick();
    expect(a.loads).toBe(0);
  });

  it('serves several states on one bus, each on its own channel: a change reloads only the state it changed', async () => {
    bus = new InProcessEventBus();
    const registryA = new FakeRegistry();
    const registryB = new FakeRegistry();
    const budgetsA = new FakeRegistry();
    const budgetsB = new FakeRegistry();
    const on = (state: FakeRegistry, channel: string) => {
      const s = new RegistrySync(state, bus, logger, { channel, what: channel });
      s.start();
      syncs.push(s);
    };
    on(registryA, LLM_CHANNEL);
    on(budgetsA, BUDGETS_CHANNEL);
    on(registryB, LLM_CHANNEL);
    on(budgetsB, BUDGETS_CHANNEL);

    budgetsA.announce();
    await tick();
    expect(budgetsB.loads).toBe(1);
    expect(registryB.loads).toBe(0);
    expect(budgetsA.loads + registryA.loads).toBe(0);
    budgetsB.finish();

    registryA.announce();
    await tick();
    expect(registryB.loads).toBe(1);
    expect(budgetsB.loads).toBe(1);
    registryB.finish();

    // Each keeps its own coalescing and retry: a failed budget reload does not hold the registry's back.
    budgetsB.failNext = 1;
    budgetsA.announce();
    registryA.announce();
    await tick();
    expect(budgetsB.loads).toBe(2);
    expect(registryB.loads).toBe(2);
    budgetsB.finish();
    registryB.finish();
    await tick();
    expect(budgetsB.inFlight + registryB.inFlight).toBe(0);
  });

  it('names its channel and what it reloads when a reload fails', async () => {
    bus = new InProcessEventBus();
    const logged: { obj: unknown; msg: string }[] = [];
    const capture = pino(
      { level: 'error' },
      { write: (line: string) => logged.push({ obj: JSON.parse(line), msg: JSON.parse(line).msg }) },
    );
    const b = new FakeRegistry();
    const s = new RegistrySync(b, bus, capture, { channel: BUDGETS_CHANNEL, what: 'LLM budgets', retryMs: 10_000 });
    s.start();
    syncs.push(s);
    b.failNext = 1;
    await bus.publish(BUDGETS_CHANNEL, { type: 'changed', origin: 'another-node' });
    b.finish();
    await until(() => logged.length === 1);
    expect(logged[0]!.msg).toBe('reloading LLM budgets after a change elsewhere failed');
    expect(logged[0]!.obj).toMatchObject({ channel: BUDGETS_CHANNEL });
  });

  it('reads once more when the bus says its subscription holds (changes made before it are caught)', async () => {
    const inner = new InProcessEventBus();
    let confirm!: () => void;
    const confirmed = new Promise<void>((r) => (confirm = r));
    bus = Object.assign(Object.create(inner) as EventBus, { ready: () => confirmed });
    const b = new FakeRegistry();
    node(b);
    await tick();
    expect(b.loads).toBe(0);
    confirm();
    await until(() => b.loads === 1);
    b.finish();
  });

  it('with resyncMs, reloads on a timer whatever was heard, and stops with stop()', async () => {
    const registry = new FakeRegistry();
    const s = new RegistrySync(registry, bus, logger, { channel: LLM_CHANNEL, what: 'test state', resyncMs: 20 });
    s.start();
    syncs.push(s);
    for (let i = 1; i <= 3; i++) {
      await until(() => registry.loads === i);
      registry.finish();
    }
    await s.stop();
    const after = registry.loads;
    await new Promise((r) => setTimeout(r, 80));
    expect(registry.loads).toBe(after);
  });
});
