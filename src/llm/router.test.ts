import { describe, expect, it } from 'vitest';
import type { ChatCompletion } from './llm.js';
import type { LlmProvider } from './providers/llm-provider.js';
import { ProviderError } from './providers/provider-error.js';
import { Router, type Route, type Target } from './router.js';

const impl = {} as LlmProvider;
const t = (provider: string, extra: Partial<Target> = {}): Target => ({ provider, model: 'm', impl, ...extra });

function router(now = { t: 0 }) {
  const sleeps: number[] = [];
  const r = new Router({
    maxRetries: 2,
    retryBaseMs: 100,
    maxRetryWaitMs: 5000,
    cooldownFailures: 2,
    cooldownMs: 30_000,
    now: () => now.t,
    sleep: async (ms) => {
      sleeps.push(ms);
      now.t += ms;
    },
    random: () => 0.5,
  });
  return { r, sleeps, now };
}

const ok = {} as ChatCompletion;

describe('Router', () => {
  it('retries with exponential backoff and jitter, then falls back', async () => {
    const { r, sleeps } = router();
    const route: Route = { name: 'a', strategy: 'fallback', targets: [t('a'), t('b')] };
    const seen: string[] = [];
    const res = await r.run(route, 0, async (d) => {
      seen.push(d.provider);
      if (d.provider === 'a') throw new ProviderError('http', 'boom', 500);
      return ok;
    });
    expect(seen).toEqual(['a', 'a', 'a', 'b']);
    expect(res.target.provider).toBe('b');
    expect(sleeps).toEqual([75, 150]);
  });

  it('does not retry or fall back on a request fault', async () => {
    const { r } = router();
    const route: Route = { name: 'a', strategy: 'fallback', targets: [t('a'), t('b')] };
    await expect(
      r.run(route, 0, async () => {
        throw new ProviderError('http', 'bad field', 400);
      }),
    ).rejects.toMatchObject({ code: 'LLM_REQUEST_REJECTED' });
  });

  it('cools a deployment down after repeated failures and says when it is back', async () => {
    const { r, now } = router();
    const route: Route = { name: 'c', strategy: 'fallback', targets: [t('a')] };
    const refused = async () => Promise.reject(new ProviderError('network', 'refused'));
    // Retries that end in success do not count; each call that gives up does.
    let flaky = 0;
    await r.run(route, 0, async () => (++flaky < 3 ? refused() : ok));
    await expect(r.run(route, 0, refused)).rejects.toMatchObject({ code: 'LLM_UPSTREAM_ERROR' });
    await expect(r.run(route, 0, async () => ok)).resolves.toMatchObject({ value: ok });
    await expect(r.run(route, 0, refused)).rejects.toMatchObject({ code: 'LLM_UPSTREAM_ERROR' });
    await expect(r.run(route, 0, refused)).rejects.toMatchObject({ code: 'LLM_UPSTREAM_ERROR' });
    await expect(r.run(route, 0, async () => ok)).rejects.toMatchObject({ code: 'LLM_UNAVAILABLE' });
    now.t += 31_000;
    await expect(r.run(route, 0, async () => ok)).resolves.toMatchObject({ value: ok });
  });

  it('waits for Retry-After on the last deployment, moves on from others', async () => {
    const { r, sleeps } = router();
    const route: Route = { name: 'r', strategy: 'fallback', targets: [t('a'), t('b')] };
    const seen: string[] = [];
    let bFailed = false;
    await r.run(route, 0, async (d) => {
      seen.push(d.provider);
      if (d.provider === 'a') throw new ProviderError('http', 'slow down', 429, 2000);
      if (!bFailed) {
        bFailed = true;
        throw new ProviderError('http', 'slow down', 429, 1000);
      }
      return ok;
    });
    expect(seen).toEqual(['a', 'b', 'b']);
    expect(sleeps).toEqual([1000]);
  });

  it('orders by strategy: weighted round robin, least busy, lowest latency', async () => {
    const { r, now } = router();
    const rr: Route = { name: 'rr', strategy: 'round_robin', targets: [t('a', { weight: 1 }), t('b', { weight: 2 })] };
    const firsts = Array.from({ length: 6 }, () => r.order(rr)[0]!.provider);
    expect(firsts.filter((p) => p === 'b')).toHaveLength(4);

    const lb: Route = { name: 'lb', strategy: 'least_busy', targets: [t('x'), t('y')] };
    const held = await r.run(lb, 0, async () => ok, { hold: true });
    expect(held.target.provider).toBe('x');
    expect(r.order(lb)[0]!.provider).toBe('y');
    held.release();
    held.release();
    expect(r.state(t('x')).inFlight).toBe(0);

    const ll: Route = { name: 'll', strategy: 'lowest_latency', targets: [t('slow'), t('fast')] };
    await r.run({ ...ll, targets: [t('slow')] }, 0, async () => {
      now.t += 500;
      return ok;
    });
    await r.run({ ...ll, targets: [t('fast')] }, 0, async () => {
      now.t += 20;
      return ok;
    });
    expect(r.order(ll)[0]!.provider).toBe('fast');
  });

  it('skips deployments over their requests or tokens per minute', async () => {
    const { r, now } = router();
    const route: Route = { name: 'l', strategy: 'fallback', targets: [t('a', { rpm: 2 }), t('b', { tpm: 100 })] };
    const used: string[] = [];
    for (let i = 0; i < 3; i++) used.push((await r.run(route, 10, async () => ok)).target.provider);
    expect(used).toEqual(['a', 'a', 'b']);
    r.addTokens(t('b', { tpm: 100 }), 95);
    await expect(r.run(route, 10, async () => ok)).rejects.toMatchObject({ code: 'LLM_UNAVAILABLE' });
    now.t += 61_000;
    expect((await r.run(route, 10, async () => ok)).target.provider).toBe('a');
  });

  it('keeps no per-call window for a deployment without limits (nothing to count against)', async () => {
    const { r } = router();
    const free: Route = { name: 'free', strategy: 'fallback', targets: [t('a')] };
    for (let i = 0; i < 50; i++) {
      const res = await r.run(free, 10, async () => ok);
      r.addTokens(res.target, 25);
    }
    expect(r.state(t('a'))).toMatchObject({ requests: [], tokens: [] });
    const limited = t('b', { rpm: 1000, tpm: 100_000 });
    for (let i = 0; i < 5; i++) {
      const res = await r.run({ name: 'l', strategy: 'fallback', targets: [limited] }, 10, async () => ok);
      r.addTokens(res.target, 25);
    }
    expect(r.state(limited).requests).toHaveLength(5);
    expect(r.state(limited).tokens).toHaveLength(5);
  });

  it('counts the prompt only when a deployment has a tokens-per-minute limit, and then once', async () => {
    const { r } = router();
    let counted = 0;
    const estimate = () => (counted++, 10);
    await r.run({ name: 'free', strategy: 'fallback', targets: [t('a'), t('b')] }, estimate, async () => ok);
    expect(counted).toBe(0);
    const limited: Route = { name: 'tpm', strategy: 'fallback', targets: [t('c', { tpm: 100 }), t('d', { tpm: 100 })] };
    r.addTokens(t('c', { tpm: 100 }), 95);
    r.addTokens(t('d', { tpm: 100 }), 50);
    expect((await r.run(limited, estimate, async () => ok)).target.provider).toBe('d');
    expect(counted).toBe(1);
  });
});
