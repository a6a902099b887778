/** Row shapes of the auth tables. Times are ISO-8601 text; booleans are 0/1 integers on both dialects. */
export interface UsersTable {
  id: string;
  username: string;
  email: string;
  password_hash: string;
  role: string;
  disabled: number;
  must_change_password: number;
  created_at: string;
  updated_at: string;
}

export interface RolesTable {
  name: string;
  description: string;
  created_at: string;
}

export interface PermissionsTable {
  name: string;
  description: string;
}

export interface RolePermissionsTable {
  role_name: string;
  permission_name: string;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  /** The public part shown in lists, e.g. `clk_3fA9x0Qa1b2c`. */
  prefix: string;
  /** sha256 of the whole key, hex. */
  token_hash: string;
  /** JSON array of permission names, or null for "all of the owner's". */
  scopes: string | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  created_at: string;
}

/** A login session: one family of rotating refresh tokens. Access tokens carry its id. */
export interface AuthSessionsTable {
  id: string;
  user_id: string;
  expires_at: string;
  revoked_at: string | null;
  revoked_reason: string | null;
  created_at: string;
  user_agent: string | null;
  ip: string | null;
}

export interface RefreshTokensTable {
  id: string;
  session_id: string;
  token_hash: string;
  used_at: string | null;
  replaced_by: string | null;
  created_at: string;
}

export interface AuthTables {
  users: UsersTable;
  roles: RolesTable;
  permissions: PermissionsTable;
  role_permissions: RolePermissionsTable;
  api_tokens: ApiTokensTable;
  auth_sessions: AuthSessionsTable;
  refresh_tokens: RefreshTokensTable;
}
