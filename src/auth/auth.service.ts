import { randomUUID } from 'node:crypto';
import type { Db, DbOrTrx } from '../db/database.js';
import { isoIn, nowIso } from '../db/time.js';
import { AppError } from '../errors/index.js';
import { apiKeyPrefix, generateRefreshToken, hashesEqual, looksLikeApiKey, sha256 } from './api-key-format.js';
import type { ApiKeyRepository } from './api-key.repository.js';
import { CredentialCache } from './credential-cache.js';
import { dummyHash, verifyPassword } from './password.js';
import { isPermission, type Permission } from './permissions.js';
import type { Principal } from './principal.js';
import type { RoleService } from './role.service.js';
import type { SessionRepository } from './session.repository.js';
import type { TokenSigner } from './token-signer.js';
import type { User } from './user.js';
import { roleOf, toUser } from './user.mapper.js';
import type { UserRepository } from './user.repository.js';

export interface TokenPair {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  user: User;
}

/** last_used_at is a hint, not an audit trail: write it at most once a minute per key. */
const TOUCH_EVERY_MS = 60_000;

/** Sign-in, token rotation and turning a bearer credential into a Principal. */
export class AuthService {
  constructor(
    private readonly db: Db,
    private readonly users: UserRepository,
    private readonly sessions: SessionRepository,
    private readonly apiKeys: ApiKeyRepository,
    private readonly roles: RoleService,
    private readonly signer: TokenSigner,
    private readonly refreshTtlMs: number,
    private readonly reuseGraceMs = 0,
    private readonly credentials = new CredentialCache(0),
  ) {}

  async login(login: string, password: string, meta: { ip?: string; userAgent?: string }): Promise<TokenPair> {
    const row = await this.users.findByLogin(this.db, login);
    // Verify against a dummy hash for unknown users so the response time does not reveal which exist.
    const ok = await verifyPassword(password, row?.password_hash ?? (await dummyHash()));
    if (!row || !ok) throw new AppError('INVALID_CREDENTIALS');
    if (row.disabled) throw new AppError('USER_DISABLED');
    const sessionId = randomUUID();
    const refresh = generateRefreshToken();
    const now = nowIso();
    await this.db.transaction().execute(async (trx) => {
      await this.sessions.insertSession(trx, {
        id: sessionId,
        user_id: row.id,
        expires_at: isoIn(this.refreshTtlMs),
        revoked_at: null,
        revoked_reason: null,
        created_at: now,
        user_agent: meta.userAgent?.slice(0, 300) ?? null,
        ip: meta.ip ?? null,
      });
      await this.sessions.insertRefresh(trx, {
        id: randomUUID(),
        session_id: sessionId,
        token_hash: sha256(refresh),
        used_at: null,
        replaced_by: null,
        created_at: now,
      });
    });
    return this.pair(row.id, sessionId, refresh, toUser(row));
  }

  /**
   * Exchanges a refresh token for a new pair. A token is good once: presenting a used one means it was
   * stolen or replayed, so the whole session (every token of the family) is revoked. One exception, as
   * Auth0, Okta and Supabase make it: within `reuseGraceMs` of its rotation, a token whose successor was
   * never used may be exchanged again (the client lost the answer to a reload or a dropped connection);
   * the unused successor is retired, so the family still has one live token.
   */
  async refresh(token: string): Promise<TokenPair> {
    const found = await this.sessions.findRefresh(this.db, sha256(token));
    if (!found) throw new AppError('REFRESH_TOKEN_INVALID');
    const now = nowIso();
    if (found.session.revoked_at) throw new AppError('REFRESH_TOKEN_INVALID');
    if (found.session.expires_at < now) throw new AppError('REFRESH_TOKEN_INVALID');
    const next = generateRefreshToken();
    const nextId = randomUUID();
    const result = await this.db.transaction().execute(async (trx) => {
      const exchanged =
        (!found.used_at && (await this.sessions.markUsed(trx, found.id, now, nextId))) ||
        (await this.retryWithinGrace(trx, found.id, now, nextId));
      if (!exchanged) return 'reused' as const;
      await this.sessions.insertRefresh(trx, {
        id: nextId,
        session_id: found.session_id,
        token_hash: sha256(next),
        used_at: null,
        replaced_by: null,
        created_at: now,
      });
      return 'rotated' as const;
    });
    if (result === 'reused') {
      await this.sessions.revokeSession(this.db, found.session_id, now, 'refresh token reused');
      this.credentials.invalidate();
      throw new AppError('REFRESH_TOKEN_REUSED');
    }
    const user = await this.users.findById(this.db, found.session.user_id);
    if (!user || user.disabled) {
      await this.sessions.revokeSession(this.db, found.session_id, now, 'user disabled');
      this.credentials.invalidate();
      throw new AppError(user ? 'USER_DISABLED' : 'REFRESH_TOKEN_INVALID');
    }
    return this.pair(user.id, found.session_id, next, toUser(user));
  }

  /** A used token presented again: allowed only inside the grace window and while its successor is unused. */
  private async retryWithinGrace(trx: DbOrTrx, id: string, now: string, nextId: string): Promise<boolean> {
    if (this.reuseGraceMs <= 0) return false;
    const used = await this.sessions.findUse(trx, id);
    if (!used?.used_at || !used.replaced_by) return false;
    if (Date.parse(used.used_at) < Date.parse(now) - this.reuseGraceMs) return false;
    if (!(await this.sessions.markUsed(trx, used.replaced_by, now, nextId))) return false;
    await this.sessions.setReplacedBy(trx, id, nextId);
    return true;
  }

  /** Revokes the session of the access token, and of a refresh token if one is given. */
  async logout(principal: Principal, refreshToken?: string): Promise<void> {
    const now = nowIso();
    if (principal.sessionId) await this.sessions.revokeSession(this.db, principal.sessionId, now, 'logout');
    if (refreshToken) {
      const found = await this.sessions.findRefresh(this.db, sha256(refreshToken));
      if (found && found.session.user_id === principal.userId) {
        await this.sessions.revokeSession(this.db, found.session_id, now, 'logout');
      }
    }
    this.credentials.invalidate();
  }

  /** The principal of a credential checked in the last `auth_cache_ttl` and unchanged since, without waiting. */
  cachedPrincipal(bearer: string): Principal | undefined {
    return this.credentials.get(bearer, Date.now());
  }

  /**
   * Turns `Authorization: Bearer <jwt | api key>` into a Principal, or throws a 401 AppError. A credential
   * checked in the last `auth_cache_ttl` answers from the cache (see CredentialCache for invalidation).
   */
  async authenticate(bearer: string): Promise<Principal> {
    return this.credentials.resolve(bearer, () =>
      looksLikeApiKey(bearer) ? this.authenticateApiKey(bearer) : this.authenticateJwt(bearer),
    );
  }

  private async authenticateJwt(token: string): Promise<{ principal: Principal; expiresAt: number }> {
    const claims = await this.signer.verify(token);
    const row = await this.sessions.findSessionWithUser(this.db, claims.sid);
    if (!row || row.id !== claims.sub) throw new AppError('TOKEN_INVALID');
    if (row.revoked_at || row.expires_at < nowIso()) throw new AppError('SESSION_REVOKED');
    if (row.disabled) throw new AppError('USER_DISABLED');
    const role = roleOf(row.role);
    const principal: Principal = {
      userId: row.id,
      username: row.username,
      role,
      permissions: this.roles.permissionsOf(role),
      via: 'jwt',
      sessionId: claims.sid,
      mustChangePassword: row.must_change_password === 1,
      user: toUser(row),
    };
    return { principal, expiresAt: Math.min(claims.exp * 1000, Date.parse(row.expires_at)) };
  }

  private async authenticateApiKey(key: string): Promise<{ principal: Principal; expiresAt: number }> {
    const prefix = apiKeyPrefix(key);
    const row = prefix ? await this.apiKeys.findByPrefixWithUser(this.db, prefix) : undefined;
    // Compare even when nothing was found so a miss and a wrong secret take the same time.
    const equal = hashesEqual(sha256(key), row?.token_hash ?? sha256('clk_none'));
    if (!row || !equal) throw new AppError('API_KEY_INVALID');
    const now = nowIso();
    if (row.revoked_at || (row.expires_at && row.expires_at < now)) throw new AppError('API_KEY_INVALID');
    if (row.disabled) throw new AppError('USER_DISABLED');
    if (!row.last_used_at || Date.parse(row.last_used_at) < Date.now() - TOUCH_EVERY_MS) {
      await this.apiKeys.touch(this.db, row.key_id, now);
    }
    const role = roleOf(row.role);
    const rolePerms = this.roles.permissionsOf(role);
    // A key never exceeds its owner's current role, even if the role was lowered after the key was made.
    const scopes = row.scopes ? (JSON.parse(row.scopes) as string[]).filter(isPermission) : undefined;
    const permissions: ReadonlySet<Permission> = scopes ? new Set(scopes.filter((p) => rolePerms.has(p))) : rolePerms;
    const principal: Principal = {
      userId: row.id,
      username: row.username,
      role,
      permissions,
      via: 'api_key',
      apiKeyId: row.key_id,
      mustChangePassword: false,
      user: toUser(row),
    };
    return { principal, expiresAt: row.expires_at ? Date.parse(row.expires_at) : Infinity };
  }

  private async pair(userId: string, sessionId: string, refresh: string, user: User): Promise<TokenPair> {
    const { token, expiresAt } = await this.signer.sign({ sub: userId, sid: sessionId });
    return {
      access_token: token,
      token_type: 'Bearer',
      expires_in: Math.max(0, Math.round((expiresAt.getTime() - Date.now()) / 1000)),
      refresh_token: refresh,
      user,
    };
  }
}
