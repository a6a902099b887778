import type { Selectable, Updateable } from 'kysely';
import type { DbOrTrx } from '../db/database.js';
import { containsText } from '../db/keyset.js';
import type { Cursor } from '../http/pagination.js';
import type { CapabilitiesTable } from './capabilities.tables.js';

export type CapabilityRow = Selectable<CapabilitiesTable>;

export interface CapabilityListFilter {
  limit: number;
  after?: Cursor | undefined;
  task_type?: string | undefined;
  target_type?: string | undefined;
  q?: string | undefined;
}

/** All SQL for user-defined capabilities; every query is scoped by owner. */
export class CapabilityRepository {
  insert(db: DbOrTrx, row: CapabilityRow): Promise<unknown> {
    return db.insertInto('capabilities').values(row).execute();
  }

  findById(db: DbOrTrx, ownerId: string, id: string): Promise<CapabilityRow | undefined> {
    return db
      .selectFrom('capabilities')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  findByName(db: DbOrTrx, ownerId: string, name: string): Promise<CapabilityRow | undefined> {
    return db
      .selectFrom('capabilities')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  names(db: DbOrTrx, ownerId: string): Promise<{ name: string }[]> {
    return db.selectFrom('capabilities').select('name').where('owner_id', '=', ownerId).execute();
  }

  list(db: DbOrTrx, ownerId: string, f: CapabilityListFilter): Promise<CapabilityRow[]> {
    let q = db.selectFrom('capabilities').selectAll().where('owner_id', '=', ownerId);
    if (f.task_type) q = q.where('task_type', '=', f.task_type);
    // target_types is a JSON array of simple words: matching the quoted word is exact.
    if (f.target_type) q = q.where('target_types', 'like', `%"${f.target_type.replace(/[^a-z]/g, '')}"%`);
    if (f.q) q = q.where(containsText('name', f.q));
    if (f.after) {
      const { k, id } = f.after;
      q = q.where((eb) =>
        eb.or([eb('created_at', '>', String(k)), eb.and([eb('created_at', '=', String(k)), eb('id', '>', id)])]),
      );
    }
    return q.orderBy('created_at').orderBy('id').limit(f.limit).execute();
  }

  update(db: DbOrTrx, ownerId: string, id: string, patch: Updateable<CapabilitiesTable>): Promise<unknown> {
    return db.updateTable('capabilities').set(patch).where('owner_id', '=', ownerId).where('id', '=', id).execute();
  }

  async delete(db: DbOrTrx, ownerId: string, id: string): Promise<boolean> {
    const res = await db
      .deleteFrom('capabilities')
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  /** Names of the owner's agents that list this capability id. */
  async agentsUsing(db: DbOrTrx, ownerId: string, id: string): Promise<string[]> {
    const rows = await db
      .selectFrom('agents')
      .select('name')
      .where('owner_id', '=', ownerId)
      .where('capabilities', 'like', `%${JSON.stringify(id)}%`)
      .orderBy('name')
      .execute();
    return rows.map((r) => r.name);
  }
}
