import type { Selectable } from 'kysely';
import { principalUserColumns, type PrincipalUserRow } from './user.repository.js';
import type { DbOrTrx } from '../db/database.js';
import type { ApiTokensTable } from './auth.tables.js';

export type ApiKeyRow = Selectable<ApiTokensTable>;

/** All SQL for API keys. Every read of a user's keys is scoped by the owner. */
export class ApiKeyRepository {
  insert(db: DbOrTrx, row: ApiKeyRow): Promise<unknown> {
    return db.insertInto('api_tokens').values(row).execute();
  }

  listForUser(db: DbOrTrx, userId: string): Promise<ApiKeyRow[]> {
    return db
      .selectFrom('api_tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
  }

  findForUser(db: DbOrTrx, userId: string, id: string): Promise<ApiKeyRow | undefined> {
    return db
      .selectFrom('api_tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** The key with this prefix and its owner (hot path of every API-key request). */
  findByPrefixWithUser(
    db: DbOrTrx,
    prefix: string,
  ): Promise<
    | (Pick<ApiKeyRow, 'token_hash' | 'scopes' | 'expires_at' | 'revoked_at' | 'last_used_at'> & {
        key_id: string;
      } & PrincipalUserRow)
    | undefined
  > {
    return db
      .selectFrom('api_tokens as k')
      .innerJoin('users as u', 'u.id', 'k.user_id')
      .select([
        'k.id as key_id',
        'k.token_hash',
        'k.scopes',
        'k.expires_at',
        'k.revoked_at',
        'k.last_used_at',
        ...principalUserColumns,
      ])
      .where('k.prefix', '=', prefix)
      .executeTakeFirst();
  }

  touch(db: DbOrTrx, id: string, at: string): Promise<unknown> {
    return db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  revoke(db: DbOrTrx, userId: string, id: string, at: string): Promise<unknown> {
    return db
      .updateTable('api_tokens')
      .set({ revoked_at: at })
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute();
  }
}
