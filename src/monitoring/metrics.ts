import { collectDefaultMetrics, Registry } from 'prom-client';
import { RequestDurations } from './request-durations.js';

/**
 * The app's own Prometheus registry (no global one), with process metrics and request durations (observed by the
 * HTTP server's onResponse hook).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new RequestDurations();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'clarion_' });
    this.registry.registerMetric(this.httpDuration.asMetric());
  }
}
