import type { Logger } from 'pino';
import { analyticsRoutes } from '../analytics/analytics.routes.js';
import { AnalyticsService } from '../analytics/analytics.service.js';
import type { AuthService } from '../auth/auth.service.js';
import type { Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import type { EventBus } from '../events/event-bus.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { RedisEventBus } from '../events/redis-event-bus.js';
import { registerWsHub } from '../events/ws.routes.js';
import type { HttpServer } from '../http/server.js';
import type { JobQueue } from '../queue/job-queue.js';
import { TableJobQueue } from '../queue/table-job-queue.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { TaskRegistry } from '../tasks/task-registry.js';
import { Expressions } from '../workflows/expression.js';
import { hookRoutes, triggerRoutes } from '../workflows/trigger.routes.js';
import { TriggerService } from '../workflows/trigger.service.js';
import { WorkflowRepository } from '../workflows/workflow.repository.js';
import { workflowRoutes } from '../workflows/workflow.routes.js';
import { WorkflowService } from '../workflows/workflow.service.js';
import { Executor, type StepCapabilities } from './executor.js';
import { RunRepository } from './run.repository.js';
import { runRoutes } from './run.routes.js';
import { RunService } from './run.service.js';

export interface Engine {
  bus: EventBus;
  queue: JobQueue;
  workflows: WorkflowService;
  runs: RunService;
  executor: Executor;
  triggers: TriggerService;
  /** REST routes, SSE and the WebSocket hub at /ws. */
  registerRoutes(server: HttpServer, auth: AuthService): Promise<void>;
}

/** Builds the workflow engine's parts from the config (embedded queue; in-process or Redis event bus). */
export function createEngine(o: {
  config: Config;
  database: Database;
  logger: Logger;
  tasks: TaskRegistry;
  secrets: SecretBox;
  /** Services tasks may use; read on each attempt so late-wired services are seen. */
  taskServices: () => Readonly<Record<string, unknown>>;
  /** Capabilities that steps may `uses:` beside task types. */
  capabilities?: StepCapabilities & { namesOf(userId: string): Promise<ReadonlySet<string>> };
}): Engine {
  const { config, database, logger, tasks } = o;
  const db = database.db;
  // Several processes (API nodes, `clarion worker`) share events through Redis when it is configured.
  const onBusError = (err: unknown) => logger.error({ err }, 'event bus error');
  const bus: EventBus = config.redis_url
    ? new RedisEventBus(config.redis_url, onBusError)
    : new InProcessEventBus(onBusError);
  const queue = new TableJobQueue(db, database.dialect);
  const expressions = new Expressions();
  const workflows = new WorkflowService(db, new WorkflowRepository(), tasks, expressions, {
    maxSteps: config.max_steps_per_run,
    ...(o.capabilities ? { capabilityNames: (userId: string) => o.capabilities!.namesOf(userId) } : {}),
  });
  const runRepo = new RunRepository(database.dialect);
  const runs = new RunService(db, runRepo, workflows, queue, bus, { maxDepth: config.max_workflow_depth });
  const triggers = new TriggerService(db, workflows, runs, o.secrets, logger.child({ module: 'triggers' }));
  const executor = new Executor(
    {
      db,
      queue,
      bus,
      runs: runRepo,
      workflows,
      tasks,
      expressions,
      logger: logger.child({ module: 'engine' }),
      services: () => ({ ...o.taskServices(), runs, tasks }),
      ...(o.capabilities ? { capabilities: o.capabilities } : {}),
    },
    {
      maxConcurrentRuns: config.engine_max_concurrent_runs,
      maxRunsPerUser: config.engine_max_runs_per_user,
      leaseMs: config.engine_lease,
      pollMs: config.engine_poll_interval,
      maxStepsPerRun: config.max_steps_per_run,
      maxForeachItems: config.max_foreach_items,
      maxStepOutputBytes: config.max_step_output,
    },
  );
  return {
    bus,
    queue,
    workflows,
    runs,
    executor,
    triggers,
    async registerRoutes(server, auth) {
      await registerWsHub(server, {
        bus,
        auth,
        allowedOrigins: config.cors_origins,
        publicUrl: config.public_url,
        authorizer: {
          runEvents: async (userId, id, after) => runs.events(userId, id, after) as never,
          workflowId: async (userId, ref) => (await workflows.find(userId, ref)).id,
        },
      });
      await server.register(workflowRoutes, { prefix: '/api/v1', workflows, runs, maxPageSize: config.max_page_size });
      await server.register(runRoutes, { prefix: '/api/v1', runs, bus, maxPageSize: config.max_page_size });
      await server.register(triggerRoutes, { prefix: '/api/v1', triggers });
      await server.register(hookRoutes, { triggers, perMinute: 60 });
      await server.register(analyticsRoutes, { prefix: '/api/v1', analytics: new AnalyticsService(db) });
    },
  };
}
