import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestDurations } from './request-durations.js';

describe('RequestDurations', () => {
  const observations: [string, string, number, number][] = [
    ['GET', '/api/v1/auth/me', 200, 0.0004],
    ['GET', '/api/v1/auth/me', 200, 0.001], // on a bound: counted in that bucket, as Prometheus' le means
    ['GET', '/api/v1/auth/me', 200, 0.0031],
    ['GET', '/api/v1/auth/me', 429, 0.2],
    ['POST', '/api/v1/runs', 201, 12], // above every bound: only +Inf
    ['GET', 'unmatched', 404, 0.05],
    ['GET', '/a"b\\c', 200, 0.007], // label values escaped
  ];

  function both() {
    const ours = new Registry();
    const durations = new RequestDurations();
    ours.registerMetric(durations.asMetric());
    const theirs = new Registry();
    const histogram = new Histogram({
      name: 'clarion_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [theirs],
    });
    for (const [method, route, status, seconds] of observations) {
      durations.observe(method, route, status, seconds);
      histogram.observe({ method, route, status_code: String(status) }, seconds);
    }
    return { ours, theirs, durations };
  }

  it("exports exactly what prom-client's Histogram exports for the same observations", async () => {
    const { ours, theirs } = both();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // (Without exemplars, which this histogram does not keep: prom-client lists them as null.)
    const withoutExemplars = (metrics: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
      metrics.map((m) => ({ ...m, values: m.values.map(({ exemplar: _, ...v }: Record<string, unknown>) => v) }));
    expect(withoutExemplars(await ours.getMetricsAsJSON())).toEqual(withoutExemplars(await theirs.getMetricsAsJSON()));
  });

  it('starts again from nothing on reset', async () => {
    const { ours, durations } = both();
    ours.resetMetrics();
    expect(await ours.metrics()).not.toContain('_bucket');
    durations.observe('GET', '/x', 200, 0.002);
    expect(await ours.metrics()).toContain(
      'clarion_http_request_duration_seconds_count{method="GET",route="/x",status_code="200"} 1',
    );
  });
});
