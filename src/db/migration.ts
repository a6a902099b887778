import type { Kysely } from 'kysely';
import type { Dialect } from './database.js';

export interface MigrationContext {
  dialect: Dialect;
}

/** One versioned migration. Names sort in the order they apply; a name is never changed once released. */
export interface Migration {
  name: string;
  up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void>;
}
