/**
 * Named permissions and the built-in roles. The database tables `roles`, `permissions` and
 * `role_permissions` are synchronised from this table at start, so the code is the source of truth.
 */
export const permissions = {
  'agent:read': 'See agents',
  'agent:create': 'Create agents',
  'agent:update': 'Change agents',
  'agent:delete': 'Delete agents',
  'target:read': 'See targets',
  'target:create': 'Create targets',
  'target:update': 'Change and test targets',
  'target:delete': 'Delete targets',
  'capability:read': 'See capabilities',
  'capability:create': 'Create capabilities',
  'capability:update': 'Change capabilities',
  'capability:delete': 'Delete capabilities',
  'workflow:read': 'See workflows and their versions',
  'workflow:create': 'Create workflows',
  'workflow:update': 'Change workflows',
  'workflow:delete': 'Delete workflows',
  'workflow:execute': 'Start, cancel, retry and approve runs',
  'run:read': 'See runs and their events',
  'chat:read': 'See conversations',
  'chat:write': 'Chat with agents',
  'memory:read': 'Search and read memory',
  'memory:write': 'Add and delete memory',
  'llm:use': 'Call models through the gateway',
  'provider:read': 'See providers, models and aliases',
  'provider:manage': 'Configure providers, aliases and prices',
  'analytics:read': 'See analytics and usage',
  'budget:manage': 'Set budgets for users and API keys',
  'apikey:manage': 'Create and revoke own API keys',
  'user:read': 'See the list of users',
  'user:manage': 'Create users, change roles, reset passwords',
  'system:read': 'See system information',
  'system:manage': 'Backups, secrets rotation and settings',
} as const;

export type Permission = keyof typeof permissions;
export const allPermissions = Object.keys(permissions) as Permission[];

export const roles = {
  admin: {
    description: 'Everything, including users, providers and system settings',
    permissions: allPermissions,
  },
  operator: {
    description: 'Builds and runs agents, targets, capabilities and workflows',
    permissions: allPermissions.filter(
      (p) => !['user:manage', 'provider:manage', 'budget:manage', 'system:manage'].includes(p),
    ),
  },
  viewer: {
    description: 'Reads everything it is shown; changes nothing',
    permissions: allPermissions.filter((p) => p.endsWith(':read')),
  },
} as const satisfies Record<string, { description: string; permissions: readonly Permission[] }>;

export type Role = keyof typeof roles;
export const roleNames = Object.keys(roles) as Role[];
/** Higher rank may grant lower ranks; nobody grants above their own. */
export const roleRank: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export const isRole = (r: string): r is Role => r in roles;
export const isPermission = (p: string): p is Permission => p in permissions;
