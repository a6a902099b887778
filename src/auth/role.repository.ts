import type { DbOrTrx } from '../db/database.js';

/** All SQL for roles and permissions. */
export class RoleRepository {
  /** Makes the tables match the given definitions (code is the source of truth). */
  async sync(
    db: DbOrTrx,
    permissions: Record<string, string>,
    roles: Record<string, { description: string; permissions: readonly string[] }>,
    now: string,
  ): Promise<void> {
    await db.transaction().execute(async (trx) => {
      for (const [name, description] of Object.entries(permissions)) {
        await trx
          .insertInto('permissions')
          .values({ name, description })
          .onConflict((oc) => oc.column('name').doUpdateSet({ description }))
          .execute();
      }
      for (const [name, role] of Object.entries(roles)) {
        await trx
          .insertInto('roles')
          .values({ name, description: role.description, created_at: now })
          .onConflict((oc) => oc.column('name').doUpdateSet({ description: role.description }))
          .execute();
        // Remove what the role lost and add what it gained; both are no-ops when another process starting at
        // the same moment already did it (a delete-all-then-insert would collide on the primary key).
        let stale = trx.deleteFrom('role_permissions').where('role_name', '=', name);
        if (role.permissions.length > 0) stale = stale.where('permission_name', 'not in', [...role.permissions]);
        await stale.execute();
        if (role.permissions.length > 0) {
          await trx
            .insertInto('role_permissions')
            .values(role.permissions.map((p) => ({ role_name: name, permission_name: p })))
            .onConflict((oc) => oc.columns(['role_name', 'permission_name']).doNothing())
            .execute();
        }
      }
    });
  }

  async load(db: DbOrTrx): Promise<Map<string, { description: string; permissions: string[] }>> {
    const roles = await db.selectFrom('roles').selectAll().orderBy('name').execute();
    const links = await db.selectFrom('role_permissions').selectAll().execute();
    const out = new Map<string, { description: string; permissions: string[] }>();
    for (const r of roles) out.set(r.name, { description: r.description, permissions: [] });
    for (const l of links) out.get(l.role_name)?.permissions.push(l.permission_name);
    return out;
  }
}
