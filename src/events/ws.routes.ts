import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { AuthService } from '../auth/auth.service.js';
import type { Principal } from '../auth/principal.js';
import type { Permission } from '../auth/permissions.js';
import { isAppError } from '../errors/index.js';
import type { BusEvent, EventBus } from './event-bus.js';

/** What the hub asks of the run and workflow modules to authorise a subscription. */
export interface ChannelAuthorizer {
  /** Resolves when `userId` owns run `id` (else throws a 404 AppError); returns stored events after `after`. */
  runEvents(userId: string, id: string, after: number): Promise<Record<string, unknown>[]>;
  /** Resolves to the workflow's id when `userId` owns it (by id or name); else throws a 404 AppError. */
  workflowId(userId: string, ref: string): Promise<string>;
}

export interface WsDeps {
  bus: EventBus;
  auth: AuthService;
  authorizer: ChannelAuthorizer;
  /** Origins a browser may open the socket from, besides the server's own host. */
  allowedOrigins: readonly string[];
  publicUrl?: string | undefined;
}

type ClientMessage =
  | { type: 'auth'; token: string }
  | { type: 'subscribe'; channel: string; after?: number }
  | { type: 'unsubscribe'; channel: string }
  | { type: 'ping' };

const MAX_SUBSCRIPTIONS = 100;

/**
 * The WebSocket hub at `/ws`. Authenticate with `?token=` or a first `{type:"auth"}` message, then
 * subscribe to `run:<id>`, `workflow:<id>`, `dashboard` or `user:<own id>`. Each subscription is
 * authorised on its own; a run subscription with `after` replays the stored events first.
 */
export async function registerWsHub(app: FastifyInstance, deps: WsDeps): Promise<void> {
  // In a scope of its own: @fastify/websocket adds an onRequest and an onResponse hook to every route of the
  // context it is registered in; here that is only /ws, not every API request.
  await app.register(async (scope) => {
    await scope.register(websocket, { options: { maxPayload: 64 * 1024 } });
    scope.get('/ws', { websocket: true }, (socket: WebSocket, req: FastifyRequest) => {
      if (!originAllowed(req, deps)) {
        socket.close(4403, 'origin not allowed');
        return;
      }
      void serveSocket(socket, req, deps);
    });
  });
}

function originAllowed(req: FastifyRequest, deps: WsDeps): boolean {
  const origin = req.headers.origin;
  // Non-browser clients send no Origin; browsers always do, and cannot forge it.
  if (!origin) return true;
  if (deps.allowedOrigins.includes(origin)) return true;
  if (deps.publicUrl && new URL(deps.publicUrl).origin === origin) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

async function serveSocket(socket: WebSocket, req: FastifyRequest, deps: WsDeps): Promise<void> {
  let principal: Principal | undefined = req.principal;
  const subs = new Map<string, () => void>();
  const send = (msg: Record<string, unknown>) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
  };
  const fail = (code: string, message: string, channel?: string) =>
    send({ type: 'error', code, message, ...(channel ? { channel } : {}) });

  const authenticate = async (token: string) => {
    try {
      principal = await deps.auth.authenticate(token);
      send({ type: 'ready', user: principal.username });
    } catch {
      send({ type: 'error', code: 'UNAUTHENTICATED', message: 'The token is invalid or expired.' });
      socket.close(4401, 'unauthenticated');
    }
  };

  socket.on('close', () => {
    for (const off of subs.values()) off();
    subs.clear();
  });

  // Handlers are attached before any await so no early message is lost.
  let queue = Promise.resolve();
  socket.on('message', (raw) => {
    queue = queue.then(() => handle(String(raw))).catch(() => fail('INTERNAL', 'Could not handle the message.'));
  });

  const query = req.query as { token?: unknown };
  if (!principal && typeof query.token === 'string') await authenticate(query.token);
  else if (principal) send({ type: 'ready', user: principal.username });

  async function handle(text: string): Promise<void> {
    let msg: ClientMessage;
    try {
      msg = JSON.parse(text) as ClientMessage;
    } catch {
      return fail('INVALID_JSON', 'Messages are JSON objects.');
    }
    if (msg.type === 'ping') return send({ type: 'pong' });
    if (msg.type === 'auth') {
      if (typeof msg.token !== 'string') return fail('VALIDATION_FAILED', 'token: must be a string');
      return authenticate(msg.token);
    }
    if (!principal) return fail('UNAUTHENTICATED', 'Send {"type":"auth","token":...} first.');
    if (msg.type === 'unsubscribe') {
      subs.get(msg.channel)?.();
      subs.delete(msg.channel);
      return send({ type: 'unsubscribed', channel: msg.channel });
    }
    if (msg.type !== 'subscribe' || typeof msg.channel !== 'string') {
      return fail('VALIDATION_FAILED', 'type: must be auth, subscribe, unsubscribe or ping');
    }
    if (subs.has(msg.channel)) return send({ type: 'subscribed', channel: msg.channel });
    if (subs.size >= MAX_SUBSCRIPTIONS) return fail('RATE_LIMITED', `At most ${MAX_SUBSCRIPTIONS} subscriptions.`);
    await subscribe(principal, msg.channel, typeof msg.after === 'number' ? msg.after : undefined);
  }

  async function subscribe(p: Principal, channel: string, after: number | undefined): Promise<void> {
    const need = (perm: Permission) => {
      if (!p.permissions.has(perm)) {
        fail('FORBIDDEN', `This needs the permission ${perm}.`, channel);
        return false;
      }
      return true;
    };
    const [kind, id] = splitChannel(channel);
    // Events carry their owner; only the owner's events pass, whatever the channel.
    const deliver = (e: BusEvent) => {
      if (e._user !== p.userId) return;
      const { _user: _u, ...rest } = e;
      send({ type: 'event', channel, event: rest });
    };
    try {
      if (kind === 'run' && id) {
        if (!need('run:read')) return;
        let last = after ?? Number.MAX_SAFE_INTEGER;
        const buffered: BusEvent[] = [];
        let replaying = after !== undefined;
        const off = deps.bus.subscribe(channel, (e) => {
          if (replaying) buffered.push(e);
          else deliver(e);
        });
        subs.set(channel, off);
        const stored = await deps.authorizer.runEvents(p.userId, id, after ?? 0).catch((err: unknown) => {
          off();
          subs.delete(channel);
          throw err;
        });
        send({ type: 'subscribed', channel });
        if (after !== undefined) {
          for (const e of stored) {
            send({ type: 'event', channel, event: e });
            last = Math.max(0, Number(e.seq));
          }
          replaying = false;
          for (const e of buffered) if (Number(e.seq) > last) deliver(e);
        }
        return;
      }
      if (kind === 'workflow' && id) {
        if (!need('run:read')) return;
        const wfId = await deps.authorizer.workflowId(p.userId, id);
        subs.set(channel, deps.bus.subscribe(`workflow:${wfId}`, deliver));
        return send({ type: 'subscribed', channel });
      }
      if (kind === 'dashboard' && !id) {
        if (!need('run:read')) return;
        subs.set(channel, deps.bus.subscribe('dashboard', deliver));
        return send({ type: 'subscribed', channel });
      }
      if (kind === 'user' && id === p.userId) {
        subs.set(channel, deps.bus.subscribe(channel, deliver));
        return send({ type: 'subscribed', channel });
      }
      // Another user's channel looks exactly like one that does not exist.
      return fail('NOT_FOUND', 'No such channel.', channel);
    } catch (err) {
      if (isAppError(err) && err.status === 404) return fail('NOT_FOUND', 'No such channel.', channel);
      throw err;
    }
  }
}

function splitChannel(channel: string): [string, string | undefined] {
  const i = channel.indexOf(':');
  return i < 0 ? [channel, undefined] : [channel.slice(0, i), channel.slice(i + 1)];
}
