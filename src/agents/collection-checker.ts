import type { Db } from '../db/database.js';
import type { CollectionChecker } from './agent.js';

/** Memory collections are owned like agents: a reference is usable when it names one of the user's. */
export class TableCollectionChecker implements CollectionChecker {
  constructor(private readonly db: Db) {}

  async exists(userId: string, ref: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('memory_collections')
      .select('id')
      .where('owner_id', '=', userId)
      .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)]))
      .executeTakeFirst();
    return row !== undefined;
  }
}
