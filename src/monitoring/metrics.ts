import type { FastifyInstance } from 'fastify';
import { routeConfigOf } from '../http/auth-hook.js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { RequestDurations } from './request-durations.js';

/** The app's own Prometheus registry (no global one), with process metrics and request durations. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new RequestDurations();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'clarion_' });
    this.registry.registerMetric(this.httpDuration.asMetric());
  }

  instrument(app: FastifyInstance): void {
    app.addHook('onResponse', (request, reply, done) => {
      this.httpDuration.observe(
        request.method,
        routeConfigOf(request).url ?? 'unmatched',
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
      done();
    });
  }
}
