import type { Selectable } from 'kysely';
import { principalUserColumns, type PrincipalUserRow } from './user.repository.js';
import type { DbOrTrx } from '../db/database.js';
import type { AuthSessionsTable, RefreshTokensTable } from './auth.tables.js';

export type SessionRow = Selectable<AuthSessionsTable>;
export type RefreshRow = Selectable<RefreshTokensTable>;

/** All SQL for login sessions and their rotating refresh tokens. */
export class SessionRepository {
  insertSession(db: DbOrTrx, row: SessionRow): Promise<unknown> {
    return db.insertInto('auth_sessions').values(row).execute();
  }

  insertRefresh(db: DbOrTrx, row: RefreshRow): Promise<unknown> {
    return db.insertInto('refresh_tokens').values(row).execute();
  }

  findRefresh(db: DbOrTrx, tokenHash: string): Promise<(RefreshRow & { session: SessionRow }) | undefined> {
    return db
      .selectFrom('refresh_tokens as r')
      .innerJoin('auth_sessions as s', 's.id', 'r.session_id')
      .select([
        'r.id',
        'r.session_id',
        'r.token_hash',
        'r.used_at',
        'r.replaced_by',
        'r.created_at',
        's.user_id',
        's.expires_at',
        's.revoked_at',
        's.revoked_reason',
        's.created_at as session_created_at',
        's.user_agent',
        's.ip',
      ])
      .where('r.token_hash', '=', tokenHash)
      .executeTakeFirst()
      .then((r) =>
        r
          ? {
              id: r.id,
              session_id: r.session_id,
              token_hash: r.token_hash,
              used_at: r.used_at,
              replaced_by: r.replaced_by,
              created_at: r.created_at,
              session: {
                id: r.session_id,
                user_id: r.user_id,
                expires_at: r.expires_at,
                revoked_at: r.revoked_at,
                revoked_reason: r.revoked_reason,
                created_at: r.session_created_at,
                user_agent: r.user_agent,
                ip: r.ip,
              },
            }
          : undefined,
      );
  }

  /** Marks a refresh token used and exchanged for `replacedBy`; returns false when another request used it first. */
  async markUsed(db: DbOrTrx, id: string, at: string, replacedBy: string): Promise<boolean> {
    const res = await db
      .updateTable('refresh_tokens')
      .set({ used_at: at, replaced_by: replacedBy })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  findUse(db: DbOrTrx, id: string): Promise<Pick<RefreshRow, 'used_at' | 'replaced_by'> | undefined> {
    return db.selectFrom('refresh_tokens').select(['used_at', 'replaced_by']).where('id', '=', id).executeTakeFirst();
  }

  setReplacedBy(db: DbOrTrx, id: string, replacedBy: string): Promise<unknown> {
    return db.updateTable('refresh_tokens').set({ replaced_by: replacedBy }).where('id', '=', id).execute();
  }

  revokeSession(db: DbOrTrx, sessionId: string, at: string, reason: string): Promise<unknown> {
    return db
      .updateTable('auth_sessions')
      .set({ revoked_at: at, revoked_reason: reason })
      .where('id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  revokeAllForUser(db: DbOrTrx, userId: string, at: string, reason: string): Promise<unknown> {
    return db
      .updateTable('auth_sessions')
      .set({ revoked_at: at, revoked_reason: reason })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** Revokes every live session of a user except one (the one changing the password keeps working). */
  revokeOthersForUser(db: DbOrTrx, userId: string, keepSessionId: string | undefined, at: string, reason: string) {
    let q = db
      .updateTable('auth_sessions')
      .set({ revoked_at: at, revoked_reason: reason })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null);
    if (keepSessionId) q = q.where('id', '!=', keepSessionId);
    return q.execute();
  }

  /** The session an access token names, with its user, in one query (hot path of every JWT request). */
  findSessionWithUser(
    db: DbOrTrx,
    sessionId: string,
  ): Promise<(Pick<SessionRow, 'revoked_at' | 'expires_at'> & PrincipalUserRow) | undefined> {
    return db
      .selectFrom('auth_sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .select(['s.revoked_at', 's.expires_at', ...principalUserColumns])
      .where('s.id', '=', sessionId)
      .executeTakeFirst();
  }

  deleteExpired(db: DbOrTrx, now: string): Promise<unknown> {
    return db.deleteFrom('auth_sessions').where('expires_at', '<', now).execute();
  }
}
