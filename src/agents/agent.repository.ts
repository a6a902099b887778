import type { Selectable, Updateable } from 'kysely';
import type { DbOrTrx } from '../db/database.js';
import { afterCursor, containsText, type SortOrder } from '../db/keyset.js';
import type { Cursor } from '../http/pagination.js';
import type { AgentsTable } from './agents.tables.js';

export type AgentRow = Selectable<AgentsTable>;

export interface AgentListFilter {
  limit: number;
  after?: Cursor | undefined;
  sort: 'name' | 'created_at' | 'updated_at';
  order: SortOrder;
  status?: string | undefined;
  q?: string | undefined;
  /** A capability id the agent must list. */
  capabilityId?: string | undefined;
}

/** All SQL for agents; every query is scoped by owner. */
export class AgentRepository {
  insert(db: DbOrTrx, row: AgentRow): Promise<unknown> {
    return db.insertInto('agents').values(row).execute();
  }

  findById(db: DbOrTrx, ownerId: string, id: string): Promise<AgentRow | undefined> {
    return db.selectFrom('agents').selectAll().where('owner_id', '=', ownerId).where('id', '=', id).executeTakeFirst();
  }

  findByName(db: DbOrTrx, ownerId: string, name: string): Promise<AgentRow | undefined> {
    return db
      .selectFrom('agents')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async findByRef(db: DbOrTrx, ownerId: string, ref: string): Promise<AgentRow | undefined> {
    return (await this.findById(db, ownerId, ref)) ?? this.findByName(db, ownerId, ref);
  }

  list(db: DbOrTrx, ownerId: string, f: AgentListFilter): Promise<AgentRow[]> {
    let q = db.selectFrom('agents').selectAll().where('owner_id', '=', ownerId);
    if (f.status) q = q.where('status', '=', f.status);
    if (f.q) q = q.where(containsText('name', f.q));
    // Capability ids are UUIDs or `system:<dotted name>`: no LIKE wildcards, and quoted they match exactly.
    if (f.capabilityId) q = q.where('capabilities', 'like', `%${JSON.stringify(f.capabilityId)}%`);
    if (f.after) q = q.where(afterCursor(f.sort, f.order, f.after));
    return q.orderBy(f.sort, f.order).orderBy('id', f.order).limit(f.limit).execute();
  }

  update(db: DbOrTrx, ownerId: string, id: string, patch: Updateable<AgentsTable>): Promise<unknown> {
    return db.updateTable('agents').set(patch).where('owner_id', '=', ownerId).where('id', '=', id).execute();
  }

  async delete(db: DbOrTrx, ownerId: string, id: string): Promise<boolean> {
    const res = await db.deleteFrom('agents').where('owner_id', '=', ownerId).where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
