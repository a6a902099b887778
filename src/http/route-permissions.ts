import type { Permission } from '../auth/permissions.js';

/**
 * Access level of a route:
 * - `public`: no credentials needed (credentials, if sent, are still checked and used);
 * - `authenticated`: any signed-in user or API key;
 * - a Permission: the principal must hold it.
 */
export type Access = 'public' | 'authenticated' | Permission;

/**
 * The one table of route → access. Every route the server registers must appear here: the server
 * refuses to start otherwise, and `test/integration/route-permissions.test.ts` checks it too.
 * Keys are `METHOD /url` as Fastify registers them; a key ending in `/**` covers everything below it.
 */
export const routePermissions: Record<string, Access> = {
  // Probes and docs
  'GET /health': 'public',
  'GET /ready': 'public',
  // Checked in the handler: system:read unless metrics_public is set.
  'GET /metrics': 'public',
  'GET /api/v1/openapi.json': 'public',
  'GET /docs/**': 'public',
  'GET /docs': 'public',
  // CORS preflight (answered by @fastify/cors; carries no credentials)
  'OPTIONS *': 'public',

  // Auth
  'POST /api/v1/auth/register': 'public',
  'POST /api/v1/auth/login': 'public',
  'POST /api/v1/auth/refresh': 'public',
  'POST /api/v1/auth/logout': 'authenticated',
  'GET /api/v1/auth/me': 'authenticated',
  'POST /api/v1/auth/password': 'authenticated',

  // API keys (always the caller's own)
  'GET /api/v1/api-keys': 'apikey:manage',
  'POST /api/v1/api-keys': 'apikey:manage',
  'DELETE /api/v1/api-keys/:id': 'apikey:manage',

  // Users and roles
  'GET /api/v1/users': 'user:read',
  'POST /api/v1/users': 'user:manage',
  'GET /api/v1/users/:id': 'user:read',
  'PATCH /api/v1/users/:id': 'user:manage',
  'DELETE /api/v1/users/:id': 'user:manage',
  'POST /api/v1/users/:id/reset-password': 'user:manage',
  'GET /api/v1/roles': 'authenticated',

  // LLM layer: providers, models, aliases, prices, budgets, usage (issue 4)
  'GET /api/v1/providers': 'provider:read',
  'POST /api/v1/providers': 'provider:manage',
  'GET /api/v1/providers/:id': 'provider:read',
  'PATCH /api/v1/providers/:id': 'provider:manage',
  'DELETE /api/v1/providers/:id': 'provider:manage',
  'POST /api/v1/providers/:id/test': 'provider:manage',
  'GET /api/v1/models': 'provider:read',
  'GET /api/v1/model-aliases': 'provider:read',
  'PUT /api/v1/model-aliases/:alias': 'provider:manage',
  'DELETE /api/v1/model-aliases/:alias': 'provider:manage',
  'GET /api/v1/model-prices': 'provider:read',
  'PUT /api/v1/model-prices/:model': 'provider:manage',
  'DELETE /api/v1/model-prices/:model': 'provider:manage',
  // Own budgets are visible to anyone; setting one needs budget:manage (and never on yourself unless admin).
  'GET /api/v1/budgets': 'authenticated',
  'PUT /api/v1/budgets': 'budget:manage',
  'DELETE /api/v1/budgets/:id': 'budget:manage',
  // Own usage; other users' needs analytics:read (checked in the service).
  'GET /api/v1/usage': 'authenticated',
  'GET /api/v1/usage/summary': 'authenticated',

  // OpenAI-compatible gateway
  'POST /v1/chat/completions': 'llm:use',
  'POST /v1/embeddings': 'llm:use',
  'GET /v1/models': 'llm:use',

  // Workflows and runs (issue 5)
  'GET /api/v1/workflows/schema': 'workflow:read',
  'POST /api/v1/workflows/validate': 'workflow:read',
  'GET /api/v1/workflows': 'workflow:read',
  'POST /api/v1/workflows': 'workflow:create',
  'GET /api/v1/workflows/:id': 'workflow:read',
  'PUT /api/v1/workflows/:id': 'workflow:update',
  'DELETE /api/v1/workflows/:id': 'workflow:delete',
  'GET /api/v1/workflows/:id/versions': 'workflow:read',
  'GET /api/v1/workflows/:id/versions/:version': 'workflow:read',
  'POST /api/v1/workflows/:id/runs': 'workflow:execute',
  'GET /api/v1/runs': 'run:read',
  'GET /api/v1/runs/:id': 'run:read',
  'GET /api/v1/runs/:id/events': 'run:read',
  'POST /api/v1/runs/:id/cancel': 'workflow:execute',
  'POST /api/v1/runs/:id/retry': 'workflow:execute',
  'POST /api/v1/runs/:id/steps/:step/approve': 'workflow:execute',
  'POST /api/v1/runs/:id/steps/:step/reject': 'workflow:execute',
  'GET /api/v1/workflows/:id/triggers': 'workflow:read',
  'POST /api/v1/workflows/:id/triggers': 'workflow:update',
  'DELETE /api/v1/workflows/:id/triggers/:trigger': 'workflow:update',
  // Webhook trigger: the unguessable token in the path is the credential (plus an optional HMAC signature).
  'POST /hooks/:token': 'public',
  'GET /api/v1/analytics/summary': 'analytics:read',
  'GET /api/v1/analytics/timeseries': 'analytics:read',
  // WebSocket hub: authenticates itself (?token= or first message) and authorises each subscription.
  'GET /ws': 'public',

  // System
  'GET /api/v1/system/info': 'system:read',

  // Agents, targets, capabilities (always the caller's own; system capabilities are shared and read-only)
  'GET /api/v1/agents': 'agent:read',
  'POST /api/v1/agents': 'agent:create',
  'GET /api/v1/agents/:id': 'agent:read',
  'PUT /api/v1/agents/:id': 'agent:update',
  'PATCH /api/v1/agents/:id': 'agent:update',
  'DELETE /api/v1/agents/:id': 'agent:delete',
  'GET /api/v1/targets': 'target:read',
  'POST /api/v1/targets': 'target:create',
  'GET /api/v1/targets/:id': 'target:read',
  'PUT /api/v1/targets/:id': 'target:update',
  'PATCH /api/v1/targets/:id': 'target:update',
  'DELETE /api/v1/targets/:id': 'target:delete',
  'POST /api/v1/targets/:id/test': 'target:update',
  'GET /api/v1/capabilities': 'capability:read',
  'POST /api/v1/capabilities': 'capability:create',
  'POST /api/v1/capabilities/check': 'capability:read',
  'GET /api/v1/capabilities/:id': 'capability:read',
  'PUT /api/v1/capabilities/:id': 'capability:update',
  'PATCH /api/v1/capabilities/:id': 'capability:update',
  'DELETE /api/v1/capabilities/:id': 'capability:delete',

  // Memory (REST)
  'GET /api/v1/memory/collections': 'memory:read',
  'POST /api/v1/memory/collections': 'memory:write',
  'GET /api/v1/memory/collections/:id': 'memory:read',
  'PATCH /api/v1/memory/collections/:id': 'memory:write',
  'DELETE /api/v1/memory/collections/:id': 'memory:write',
  'POST /api/v1/memory/collections/:id/documents': 'memory:write',
  'PUT /api/v1/memory/collections/:id/documents': 'memory:write',
  'POST /api/v1/memory/collections/:id/documents/get': 'memory:read',
  'POST /api/v1/memory/collections/:id/documents/delete': 'memory:write',
  'GET /api/v1/memory/collections/:id/count': 'memory:read',
  'POST /api/v1/memory/collections/:id/query': 'memory:read',
  'POST /api/v1/memory/export': 'memory:read',
  'POST /api/v1/memory/import': 'memory:write',
  'POST /api/v1/memory/search/agents': 'agent:read',
  'POST /api/v1/memory/search/capabilities': 'capability:read',

  // Chat
  'GET /api/v1/conversations': 'chat:read',
  'POST /api/v1/conversations': 'chat:write',
  'GET /api/v1/conversations/:id': 'chat:read',
  'PATCH /api/v1/conversations/:id': 'chat:write',
  'DELETE /api/v1/conversations/:id': 'chat:write',
  'POST /api/v1/conversations/:id/messages': 'chat:write',
  'POST /api/v1/conversations/:id/regenerate': 'chat:write',
  'POST /api/v1/conversations/:id/stop': 'chat:write',

  // Memory (Chroma-compatible v2 subset; clients send the API key on every call, so nothing here is public)
  'GET /api/v2/heartbeat': 'authenticated',
  'GET /api/v2/version': 'authenticated',
  'GET /api/v2/pre-flight-checks': 'authenticated',
  'GET /api/v2/auth/identity': 'memory:read',
  'GET /api/v2/tenants/:tenant': 'memory:read',
  'GET /api/v2/tenants/:tenant/databases/:database': 'memory:read',
  'GET /api/v2/tenants/:tenant/databases/:database/collections': 'memory:read',
  'POST /api/v2/tenants/:tenant/databases/:database/collections': 'memory:write',
  'GET /api/v2/tenants/:tenant/databases/:database/collections_count': 'memory:read',
  'GET /api/v2/tenants/:tenant/databases/:database/collections/:collection_id': 'memory:read',
  'PUT /api/v2/tenants/:tenant/databases/:database/collections/:collection_id': 'memory:write',
  'DELETE /api/v2/tenants/:tenant/databases/:database/collections/:collection_id': 'memory:write',
  'POST /api/v2/tenants/:tenant/databases/:database/collections/:collection_id/add': 'memory:write',
  'POST /api/v2/tenants/:tenant/databases/:database/collections/:collection_id/upsert': 'memory:write',
  'POST /api/v2/tenants/:tenant/databases/:database/collections/:collection_id/update': 'memory:write',
  'POST /api/v2/tenants/:tenant/databases/:database/collections/:collection_id/delete': 'memory:write',
  'POST /api/v2/tenants/:tenant/databases/:database/collections/:collection_id/get': 'memory:read',
  'POST /api/v2/tenants/:tenant/databases/:database/collections/:collection_id/query': 'memory:read',
  'GET /api/v2/tenants/:tenant/databases/:database/collections/:collection_id/count': 'memory:read',

  // Web UI (src/http/web-ui.ts): the app's files and its page for deep links; unknown server paths stay JSON 404s.
  'GET /': 'public',
  'GET /*': 'public',
};

/** Routes that a user who must change their password may still call. */
export const allowedBeforePasswordChange = new Set([
  'GET /api/v1/auth/me',
  'POST /api/v1/auth/password',
  'POST /api/v1/auth/logout',
  'POST /api/v1/auth/refresh',
]);

export function accessFor(method: string, url: string): Access | undefined {
  const m = method === 'HEAD' ? 'GET' : method;
  const exact = routePermissions[`${m} ${url}`];
  if (exact) return exact;
  for (const [key, access] of Object.entries(routePermissions)) {
    if (!key.endsWith('/**')) continue;
    const [km, kp] = key.slice(0, -3).split(' ') as [string, string];
    if (km === m && (url === kp || url.startsWith(`${kp}/`))) return access;
  }
  return undefined;
}
