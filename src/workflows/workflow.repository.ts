import type { DbOrTrx } from '../db/database.js';
import type { WorkflowsTable, WorkflowVersionsTable } from './workflows.tables.js';

/** All SQL of workflows and their versions; every read of a user's workflow is scoped by owner. */
export class WorkflowRepository {
  async insert(db: DbOrTrx, row: WorkflowsTable): Promise<void> {
    await db.insertInto('workflows').values(row).execute();
  }

  async insertVersion(db: DbOrTrx, row: WorkflowVersionsTable): Promise<void> {
    await db.insertInto('workflow_versions').values(row).execute();
  }

  async find(db: DbOrTrx, userId: string, idOrName: string): Promise<WorkflowsTable | undefined> {
    return db
      .selectFrom('workflows')
      .selectAll()
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .orderBy('id')
      .executeTakeFirst();
  }

  /** Unscoped: for the engine, which acts for the run's owner already. */
  async findById(db: DbOrTrx, id: string): Promise<WorkflowsTable | undefined> {
    return db.selectFrom('workflows').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findByName(db: DbOrTrx, userId: string, name: string): Promise<WorkflowsTable | undefined> {
    return db
      .selectFrom('workflows')
      .selectAll()
      .where('user_id', '=', userId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async list(
    db: DbOrTrx,
    userId: string,
    opts: { limit: number; after?: { k: string; id: string }; q?: string },
  ): Promise<WorkflowsTable[]> {
    let q = db.selectFrom('workflows').selectAll().where('user_id', '=', userId);
    if (opts.q) q = q.where('name', 'like', `%${opts.q.replace(/[%_\\]/g, '')}%`);
    if (opts.after) {
      const a = opts.after;
      q = q.where((eb) => eb.or([eb('name', '>', a.k), eb.and([eb('name', '=', a.k), eb('id', '>', a.id)])]));
    }
    return q
      .orderBy('name')
      .orderBy('id')
      .limit(opts.limit + 1)
      .execute();
  }

  async bumpVersion(db: DbOrTrx, userId: string, id: string, fields: Partial<WorkflowsTable>): Promise<void> {
    await db.updateTable('workflows').set(fields).where('id', '=', id).where('user_id', '=', userId).execute();
  }

  async remove(db: DbOrTrx, userId: string, id: string): Promise<boolean> {
    const r = await db.deleteFrom('workflows').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async version(db: DbOrTrx, workflowId: string, version: number): Promise<WorkflowVersionsTable | undefined> {
    return db
      .selectFrom('workflow_versions')
      .selectAll()
      .where('workflow_id', '=', workflowId)
      .where('version', '=', version)
      .executeTakeFirst();
  }

  async versions(db: DbOrTrx, workflowId: string): Promise<WorkflowVersionsTable[]> {
    return db
      .selectFrom('workflow_versions')
      .selectAll()
      .where('workflow_id', '=', workflowId)
      .orderBy('version', 'desc')
      .execute();
  }
}
