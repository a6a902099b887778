import type { Logger } from 'pino';
import { ApiKeyRepository } from './auth/api-key.repository.js';
import { apiKeyRoutes } from './auth/api-key.routes.js';
import { ApiKeyService } from './auth/api-key.service.js';
import { authRoutes } from './auth/auth.routes.js';
import { CredentialCache } from './auth/credential-cache.js';
import { AuthService } from './auth/auth.service.js';
import { RoleRepository } from './auth/role.repository.js';
import { RoleService } from './auth/role.service.js';
import { SessionRepository } from './auth/session.repository.js';
import { TokenSigner } from './auth/token-signer.js';
import { UserRepository } from './auth/user.repository.js';
import { userRoutes } from './auth/user.routes.js';
import { UserService } from './auth/user.service.js';
import type { Config } from './config/config.js';
import { readOrCreateKeyFile } from './config/key-file.js';
import { createDatabase, type Database } from './db/database.js';
import { migrate } from './db/migrator.js';
import { FixedWindowLimiter } from './http/fixed-window-limiter.js';
import { buildHttpServer, type HttpServer } from './http/server.js';
import { defaultWebDir, webUiRoutes } from './http/web-ui.js';
import { gatewayRoutes } from './llm/gateway.routes.js';
import { llmRoutes } from './llm/llm.routes.js';
import { LlmService } from './llm/llm.service.js';
import { BUDGETS_CHANNEL, LLM_CHANNEL, LLM_RESYNC_MS, RegistrySync } from './llm/registry-sync.js';
import { createEngine } from './engine/engine.module.js';
import type { RunService } from './engine/run.service.js';
import { createLogger } from './logger.js';
import { createChatService, registerChatRoutes } from './chat/chat.module.js';
import type { ChatService } from './chat/chat.service.js';
import { createEntitySearch, createMemoryService, registerMemoryRoutes } from './memory/memory.module.js';
import type { MemoryService } from './memory/memory.service.js';
import type { EmbeddingsApi } from './memory/provider-embedder.js';
import { resolveMasterKey } from './secrets/master-key.js';
import type { SecretBox } from './secrets/secret-box.js';
import { AgentRepository } from './agents/agent.repository.js';
import { agentRoutes } from './agents/agent.routes.js';
import { AgentService } from './agents/agent.service.js';
import { TableCollectionChecker } from './agents/collection-checker.js';
import { CapabilityRepository } from './capabilities/capability.repository.js';
import { capabilityRoutes } from './capabilities/capability.routes.js';
import { CapabilityService } from './capabilities/capability.service.js';
import { TargetRepository } from './targets/target.repository.js';
import { targetRoutes } from './targets/target.routes.js';
import { TargetService } from './targets/target.service.js';
import { TaskRegistry } from './tasks/task-registry.js';
import { delayTask } from './tasks/delay.task.js';
import { transformTask } from './tasks/transform.task.js';
import { workflowCallTask } from './tasks/workflow-call.task.js';
import { agentTask } from './tasks/agent.task.js';
import { llmChatTask } from './tasks/llm-chat.task.js';
import { fileListTask } from './tasks/file-list.task.js';
import { fileReadTask } from './tasks/file-read.task.js';
import { fileWriteTask } from './tasks/file-write.task.js';
import { httpRequestTask } from './tasks/http-request.task.js';
import { shellExecTask } from './tasks/shell-exec.task.js';
import type { WorkflowService } from './workflows/workflow.service.js';
import { healthRoutes } from './monitoring/health.routes.js';
import { Metrics } from './monitoring/metrics.js';
import { version } from './version.js';

export interface AppOptions {
  logger?: Logger;
  /** PostgreSQL schema (tests give each app its own). */
  dbSchema?: string;
  /** Where the one-time admin password is printed; default stdout. */
  announce?: (message: string) => void;
  /** Skip migrations (the `migrate` command runs them itself). */
  migrate?: boolean;
  /** Called on the HTTP server before routes are added (tests add hooks here). */
  configureServer?: (server: HttpServer) => void;
  /**
   * SQLite: checkpoint the WAL on a worker thread instead of inside commits on the event loop (long-running
   * processes: `serve`, `worker`).
   */
  backgroundCheckpoints?: boolean;
  /** Run the workflow executor in this process (default: the `engine_enabled` setting; CLI commands pass false). */
  startEngine?: boolean;
  /**
   * Gives up the start (SIGTERM during start-up): checked between the steps, so a migration or a write in
   * progress finishes; what was opened is closed and the promise rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

export interface Services {
  users: UserService;
  auth: AuthService;
  apiKeys: ApiKeyService;
  roles: RoleService;
  targets: TargetService;
  agents: AgentService;
  capabilities: CapabilityService;
  memory: MemoryService;
  chat: ChatService;
  llm: LlmService;
  workflows: WorkflowService;
  runs: RunService;
}

export interface App {
  readonly config: Config;
  readonly database: Database;
  readonly logger: Logger;
  readonly server: HttpServer;
  readonly services: Services;
  readonly metrics: Metrics;
  /** Seals and opens stored credentials (AES-256-GCM under the master key). */
  readonly secrets: SecretBox;
  /** Every task type the engine can run. */
  readonly tasks: TaskRegistry;
  /** Starts listening; resolves to the base URL. */
  listen(): Promise<string>;
  /** Closes HTTP (finishing in-flight requests), then background work, then the database. */
  stop(): Promise<void>;
}

/** The composition root: builds every part from the config and wires them together. */
export async function createApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const logger = opts.logger ?? createLogger(config);
  opts.signal?.throwIfAborted();
  const startedAt = Date.now();
  const database = createDatabase({
    url: config.database_url,
    dataDir: config.data_dir,
    ...(opts.dbSchema ? { schema: opts.dbSchema } : {}),
  });
  const stopSteps: (() => Promise<void>)[] = [];
  const { signal } = opts;
  let builtServer: HttpServer | undefined;
  let adminCreated: Promise<void> | undefined;
  try {
    if (opts.migrate !== false) {
      const applied = await migrate(database, undefined, { signal, onLockWait: (m) => logger.info(m) });
      if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    }
    signal?.throwIfAborted();
    if (opts.backgroundCheckpoints) {
      database.checkpointInBackground((err) =>
        logger.error({ err }, 'WAL checkpoints are back in commits on the event loop'),
      );
    }
    const { db } = database;

    const userRepo = new UserRepository();
    const sessionRepo = new SessionRepository();
    const apiKeyRepo = new ApiKeyRepository();
    const roles = new RoleService(new RoleRepository());
    await roles.syncAndLoad(db);

    // After migrations: refuses to start when the key file is gone but sealed credentials exist.
    const secrets = await resolveMasterKey(config, db);
    const tasks = new TaskRegistry();
    // Built-in tasks register exactly as a third-party task would.
    tasks
      .register(transformTask)
      .register(delayTask)
      .register(workflowCallTask)
      .register(fileReadTask)
      .register(fileWriteTask)
      .register(fileListTask)
      .register(shellExecTask)
      .register(httpRequestTask)
      .register(llmChatTask)
      .register(agentTask);

    const jwtSecret = config.jwt_secret ?? readOrCreateKeyFile(config.data_dir, 'jwt.key', 48).value;
    const signer = new TokenSigner(jwtSecret, config.access_token_ttl);
    const credentials = new CredentialCache(config.auth_cache_ttl);
    const users = new UserService(db, userRepo, sessionRepo, config.open_registration, credentials);
    const auth = new AuthService(
      db,
      userRepo,
      sessionRepo,
      apiKeyRepo,
      roles,
      signer,
      config.refresh_token_ttl,
      config.refresh_token_reuse_grace,
      credentials,
    );
    const apiKeys = new ApiKeyService(db, apiKeyRepo, credentials);
    const targets = new TargetService(db, new TargetRepository(), secrets, { dataDir: config.data_dir });
    // Capabilities check agents and targets by reference; agents are built next (the lookup runs later).
    const capabilities: CapabilityService = new CapabilityService(db, new CapabilityRepository(), tasks, {
      agent: (userId, ref) => agents.findForCheck(userId, ref),
      target: (userId, ref) => targets.typeOf(userId, ref),
    });
    const agents = new AgentService(db, new AgentRepository(), capabilities, new TableCollectionChecker(db));
    // The LLM layer's embeddings are looked up on each call, so memory works whether or not it is wired.
    const memory = createMemoryService(config, database, () => (services as { llm?: EmbeddingsApi }).llm);
    const llm = new LlmService({ db, config, secrets, logger, env: process.env });
    stopSteps.push(() => llm.stop());
    await llm.start();
    signal?.throwIfAborted();
    const engine = createEngine({
      config,
      database,
      logger,
      tasks,
      secrets,
      capabilities,
      taskServices: () => ({ ...services }),
    });
    // Last to stop (the steps run in reverse): the executor and the HTTP streams publish until they are done.
    stopSteps.push(() => engine.bus.close());
    // Provider, alias and price changes and budget changes committed by other nodes reach this one's registry and
    // budgets (and this one's reach theirs); unsubscribed before the bus closes.
    // With other processes to hear from (Redis), a read every minute also catches an announcement that was lost.
    const resyncMs = config.redis_url ? LLM_RESYNC_MS : undefined;
    for (const [state, channel, what] of [
      [llm.registry.reloads, LLM_CHANNEL, 'LLM providers, aliases and prices'],
      [llm.budgets.reloads, BUDGETS_CHANNEL, 'LLM budgets'],
    ] as const) {
      const sync = new RegistrySync(state, engine.bus, logger, { channel, what, resyncMs });
      sync.start();
      stopSteps.push(() => sync.stop());
    }
    // A deleted user's budgets (and their keys') go with them by foreign key; the budgets held in memory here and,
    // through the announcement, on other nodes, are read again.
    users.onRemoved(() =>
      llm.budgets.reloads.committed().catch((err: unknown) => logger.warn({ err }, 'budgets reload failed')),
    );
    // Chat events also go to `user:<id>` on the bus, which the WebSocket hub serves.
    const chat = createChatService({ db, llm, agents, memory, publish: (ch, e) => engine.bus.publish(ch, e) });
    const services: Services = {
      users,
      auth,
      apiKeys,
      roles,
      targets,
      agents,
      capabilities,
      memory,
      chat,
      llm,
      workflows: engine.workflows,
      runs: engine.runs,
    };

    // The first admin's password hash (scrypt, ~50 ms on a worker thread) is computed while the HTTP server is
    // built, and awaited before it is ready. The no-op catch only keeps an early failure from counting as
    // unhandled while the server is being built; the await below still throws it.
    signal?.throwIfAborted();
    adminCreated = ensureAdmin(config, users, logger, opts.announce ?? ((m) => process.stdout.write(`${m}\n`)));
    adminCreated.catch(() => {});

    const metrics = new Metrics();
    const authAttempts = new FixedWindowLimiter(config.auth_attempts_per_minute, 60_000);
    const server = await buildHttpServer({ config, logger, auth, authAttempts, metrics, version });
    builtServer = server;
    opts.configureServer?.(server);
    const readiness = new Map<string, () => Promise<void>>();
    await server.register(healthRoutes, {
      database,
      metrics,
      metricsEnabled: config.metrics_enabled,
      metricsPublic: config.metrics_public,
      version,
      startedAt,
      checks: readiness,
    });
    await server.register(authRoutes, { prefix: '/api/v1/auth', auth, users, attempts: authAttempts });
    await server.register(userRoutes, { prefix: '/api/v1', users, roles, config });
    await server.register(apiKeyRoutes, { prefix: '/api/v1', apiKeys });
    await server.register(targetRoutes, { prefix: '/api/v1', targets, maxPageSize: config.max_page_size });
    await server.register(agentRoutes, { prefix: '/api/v1', agents, maxPageSize: config.max_page_size });
    await server.register(capabilityRoutes, { prefix: '/api/v1', capabilities, maxPageSize: config.max_page_size });
    // "Find agents like ...", "which capabilities fit this target": read through their services, scoped by owner.
    const entitySearch = createEntitySearch(config, {
      db,
      capabilities: async (userId) => (await capabilities.list(userId, { limit: 10_000 })).items,
      targetType: async (userId, ref) => (await targets.typeOf(userId, ref))?.type,
      llm: () => llm,
    });
    await registerMemoryRoutes(server, memory, config, entitySearch);
    await registerChatRoutes(server, chat, config);
    await server.register(llmRoutes, { prefix: '/api/v1', llm });
    await server.register(gatewayRoutes, { prefix: '/v1', llm });
    await engine.registerRoutes(server, auth);
    // The catch-all page route loses to every more specific API route, whatever the order.
    await server.register(webUiRoutes, { dir: config.web_dir ?? defaultWebDir() });
    await adminCreated;
    await server.ready();
    signal?.throwIfAborted();
    if (opts.startEngine ?? config.engine_enabled) {
      engine.executor.start();
      engine.triggers.start();
      // Runs first among the stop steps: in-flight steps are interrupted and resume elsewhere.
      stopSteps.push(async () => {
        engine.triggers.stop();
        await engine.executor.stop();
      });
    }

    let stopped = false;
    return {
      config,
      database,
      logger,
      server,
      services,
      metrics,
      secrets,
      tasks,
      async listen() {
        await server.listen({ host: config.host, port: config.port });
        const addr = server.server.address();
        const port = typeof addr === 'object' && addr ? addr.port : config.port;
        const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
        const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
        logger.info({ url, database: database.location, version }, 'clarion listening');
        return url;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await server.close();
        for (const step of stopSteps.reverse()) await step();
        await database.destroy();
      },
    };
  } catch (err) {
    // A failed or abandoned start closes what it opened, in the order stop() would; the admin write finishes first.
    await adminCreated?.catch(() => {});
    await builtServer?.close().catch(() => {});
    for (const step of stopSteps.reverse()) await step().catch(() => {});
    await database.destroy().catch(() => {});
    throw err;
  }
}

/** First start: create the admin, with the configured password or a generated one printed once. */
async function ensureAdmin(
  config: Config,
  users: UserService,
  logger: Logger,
  announce: (message: string) => void,
): Promise<void> {
  if ((await users.count()) > 0) return;
  try {
    const { user, generatedPassword } = await users.create({
      username: config.admin_username,
      email: config.admin_email,
      password: config.admin_password,
      role: 'admin',
    });
    logger.info({ user: user.username }, 'admin user created');
    if (generatedPassword) {
      announce(
        [
          '',
          '  Clarion created the first admin user.',
          `    username: ${user.username}`,
          `    password: ${generatedPassword}`,
          '  This password is shown only now; you will be asked to change it at first sign-in.',
          '',
        ].join('\n'),
      );
    }
  } catch (err) {
    // Another process created it at the same moment.
    if ((err as { code?: string }).code !== 'USER_EXISTS') throw err;
  }
}
