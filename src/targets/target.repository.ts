import type { Selectable, Updateable } from 'kysely';
import type { DbOrTrx } from '../db/database.js';
import { afterCursor, containsText, type SortOrder } from '../db/keyset.js';
import type { Cursor } from '../http/pagination.js';
import type { TargetsTable } from './targets.tables.js';

export type TargetRow = Selectable<TargetsTable>;

export interface TargetListFilter {
  limit: number;
  after?: Cursor | undefined;
  sort: 'name' | 'created_at' | 'updated_at';
  order: SortOrder;
  type?: string | undefined;
  status?: string | undefined;
  q?: string | undefined;
}

/** All SQL for targets; every query is scoped by owner. */
export class TargetRepository {
  insert(db: DbOrTrx, row: TargetRow): Promise<unknown> {
    return db.insertInto('targets').values(row).execute();
  }

  findById(db: DbOrTrx, ownerId: string, id: string): Promise<TargetRow | undefined> {
    return db.selectFrom('targets').selectAll().where('owner_id', '=', ownerId).where('id', '=', id).executeTakeFirst();
  }

  /** By id first, then by name. */
  async findByRef(db: DbOrTrx, ownerId: string, ref: string): Promise<TargetRow | undefined> {
    return (
      (await this.findById(db, ownerId, ref)) ??
      db.selectFrom('targets').selectAll().where('owner_id', '=', ownerId).where('name', '=', ref).executeTakeFirst()
    );
  }

  findByName(db: DbOrTrx, ownerId: string, name: string): Promise<TargetRow | undefined> {
    return db
      .selectFrom('targets')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  list(db: DbOrTrx, ownerId: string, f: TargetListFilter): Promise<TargetRow[]> {
    let q = db.selectFrom('targets').selectAll().where('owner_id', '=', ownerId);
    if (f.type) q = q.where('type', '=', f.type);
    if (f.status) q = q.where('status', '=', f.status);
    if (f.q) q = q.where(containsText('name', f.q));
    if (f.after) q = q.where(afterCursor(f.sort, f.order, f.after));
    return q.orderBy(f.sort, f.order).orderBy('id', f.order).limit(f.limit).execute();
  }

  update(db: DbOrTrx, ownerId: string, id: string, patch: Updateable<TargetsTable>): Promise<unknown> {
    return db.updateTable('targets').set(patch).where('owner_id', '=', ownerId).where('id', '=', id).execute();
  }

  /** Last activity, recorded by runs that used the target (they resolved it for its owner first). */
  touch(db: DbOrTrx, id: string, at: string): Promise<unknown> {
    return db.updateTable('targets').set({ last_activity_at: at }).where('id', '=', id).execute();
  }

  async delete(db: DbOrTrx, ownerId: string, id: string): Promise<boolean> {
    const res = await db.deleteFrom('targets').where('owner_id', '=', ownerId).where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
