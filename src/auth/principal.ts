import type { Permission, Role } from './permissions.js';
import type { User } from './user.js';

/** Who is making a request, after authentication. */
export interface Principal {
  readonly userId: string;
  readonly username: string;
  readonly role: Role;
  /** What this request may do: the role's permissions, narrowed by an API key's scopes. */
  readonly permissions: ReadonlySet<Permission>;
  readonly via: 'jwt' | 'api_key';
  readonly sessionId?: string;
  readonly apiKeyId?: string;
  readonly mustChangePassword: boolean;
  /** The user as of authentication (read in the same query), when the principal came from a credential. */
  readonly user?: User;
}

export const can = (p: Principal | undefined, permission: Permission): boolean =>
  p !== undefined && p.permissions.has(permission);
