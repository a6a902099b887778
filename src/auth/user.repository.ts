import { sql, type Selectable, type Updateable } from 'kysely';
import type { DbOrTrx } from '../db/database.js';
import { precompiled } from '../db/precompiled.js';
import type { Cursor } from '../http/pagination.js';
import type { UsersTable } from './auth.tables.js';

export type UserRow = Selectable<UsersTable>;

const findUserById = precompiled((db: DbOrTrx, id: string) => db.selectFrom('users').selectAll().where('id', '=', id));

/** The user columns an authenticated request needs, for joins that alias users as `u`; never the password hash. */
export const principalUserColumns = [
  'u.id',
  'u.username',
  'u.email',
  'u.role',
  'u.disabled',
  'u.must_change_password',
  'u.created_at',
  'u.updated_at',
] as const;
export type PrincipalUserRow = Omit<UserRow, 'password_hash'>;

/** All SQL for users. */
export class UserRepository {
  insert(db: DbOrTrx, row: UserRow): Promise<unknown> {
    return db.insertInto('users').values(row).execute();
  }

  /** On every token refresh and user change, hence precompiled. */
  async findById(db: DbOrTrx, id: string): Promise<UserRow | undefined> {
    return (await findUserById(db, id)).rows[0];
  }

  findByLogin(db: DbOrTrx, login: string): Promise<UserRow | undefined> {
    return db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb.or([eb('username', '=', login), eb('email', '=', login.toLowerCase())]))
      .executeTakeFirst();
  }

  findByEmail(db: DbOrTrx, email: string): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  }

  findByUsernameOrEmail(db: DbOrTrx, username: string, email: string): Promise<UserRow | undefined> {
    return db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb.or([eb('username', '=', username), eb('email', '=', email)]))
      .executeTakeFirst();
  }

  list(db: DbOrTrx, opts: { limit: number; after?: Cursor; role?: string; q?: string }): Promise<UserRow[]> {
    let q = db.selectFrom('users').selectAll();
    if (opts.role) q = q.where('role', '=', opts.role);
    if (opts.q) {
      const like = `%${opts.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      // SQLite has no default LIKE escape character; name it so `_` and `%` match literally on both dialects.
      q = q.where((eb) =>
        eb.or([
          sql<boolean>`lower(${eb.ref('username')}) like ${like} escape '\\'`,
          sql<boolean>`lower(${eb.ref('email')}) like ${like} escape '\\'`,
        ]),
      );
    }
    if (opts.after) {
      const { k, id } = opts.after;
      q = q.where((eb) =>
        eb.or([eb('created_at', '>', String(k)), eb.and([eb('created_at', '=', String(k)), eb('id', '>', id)])]),
      );
    }
    return q.orderBy('created_at').orderBy('id').limit(opts.limit).execute();
  }

  update(db: DbOrTrx, id: string, patch: Updateable<UsersTable>): Promise<unknown> {
    return db.updateTable('users').set(patch).where('id', '=', id).execute();
  }

  delete(db: DbOrTrx, id: string): Promise<unknown> {
    return db.deleteFrom('users').where('id', '=', id).execute();
  }

  count(db: DbOrTrx): Promise<number> {
    return db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
      .then((r) => Number(r.n));
  }

  /**
   * Takes write locks on every active admin row for the rest of the transaction, so two concurrent
   * demotions cannot both see "another admin remains" (PostgreSQL re-reads the rows once the other
   * transaction commits; SQLite serialises writers anyway). A no-op update works on both dialects.
   */
  async lockActiveAdmins(db: DbOrTrx): Promise<void> {
    await db
      .updateTable('users')
      .set((eb) => ({ updated_at: eb.ref('updated_at') }))
      .where('role', '=', 'admin')
      .where('disabled', '=', 0)
      .execute();
  }

  countActiveAdmins(db: DbOrTrx): Promise<number> {
    return db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'admin')
      .where('disabled', '=', 0)
      .executeTakeFirstOrThrow()
      .then((r) => Number(r.n));
  }
}
