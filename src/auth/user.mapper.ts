import { isRole, type Role } from './permissions.js';
import type { User } from './user.js';
import type { UserRow } from './user.repository.js';

export const roleOf = (role: string): Role => (isRole(role) ? role : 'viewer');

/** Row → API shape: the password hash never leaves this function. */
export function toUser(row: Omit<UserRow, 'password_hash'> & { password_hash?: string }): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    role: roleOf(row.role),
    disabled: row.disabled === 1,
    must_change_password: row.must_change_password === 1,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
