import type { DbOrTrx } from '../db/database.js';
import { nowIso } from '../db/time.js';
import { isPermission, permissions, roles, type Permission, type Role } from './permissions.js';
import type { RoleRepository } from './role.repository.js';

/** Keeps the role → permissions table in memory; it is read on every request. */
export class RoleService {
  private byRole = new Map<string, ReadonlySet<Permission>>();
  private descriptions = new Map<string, string>();

  constructor(private readonly repo: RoleRepository) {}

  async syncAndLoad(db: DbOrTrx): Promise<void> {
    await this.repo.sync(db, permissions, roles, nowIso());
    const loaded = await this.repo.load(db);
    this.byRole = new Map([...loaded].map(([name, r]) => [name, new Set(r.permissions.filter(isPermission))] as const));
    this.descriptions = new Map([...loaded].map(([name, r]) => [name, r.description] as const));
  }

  permissionsOf(role: Role | string): ReadonlySet<Permission> {
    return this.byRole.get(role) ?? new Set();
  }

  list(): { name: string; description: string; permissions: string[] }[] {
    return [...this.byRole].map(([name, perms]) => ({
      name,
      description: this.descriptions.get(name) ?? '',
      permissions: [...perms].sort(),
    }));
  }
}
