import { randomUUID } from 'node:crypto';
import type { Db } from '../db/database.js';
import { nowIso } from '../db/time.js';
import { isUniqueViolation } from '../db/unique-violation.js';
import { AppError, invalid } from '../errors/index.js';
import { decodeCursor, toPage } from '../http/pagination.js';
import { generatePassword, hashPassword, verifyPassword } from './password.js';
import type { CredentialCache } from './credential-cache.js';
import { roleRank, type Role } from './permissions.js';
import type { Principal } from './principal.js';
import type { SessionRepository } from './session.repository.js';
import type { User, UpdateUserBody } from './user.js';
import { roleOf, toUser } from './user.mapper.js';
import type { UserRepository } from './user.repository.js';

export interface CreateUserInput {
  username: string;
  email: string;
  password?: string | undefined;
  role: Role;
  mustChangePassword?: boolean;
}

/** Users: creation, roles, passwords. Nobody grants a role above their own; the last admin stays. */
export class UserService {
  constructor(
    private readonly db: Db,
    private readonly users: UserRepository,
    private readonly sessions: SessionRepository,
    private readonly openRegistration: boolean,
    private readonly credentials?: CredentialCache,
  ) {}

  /** Runs a change that can end or narrow credentials, then drops cached credentials once it committed. */
  private async narrowing<T>(change: Promise<T>): Promise<T> {
    const result = await change;
    this.credentials?.invalidate();
    return result;
  }

  /** Creates a user; returns the generated password when none was given. */
  async create(input: CreateUserInput): Promise<{ user: User; generatedPassword?: string }> {
    const email = input.email.toLowerCase();
    const generated = input.password ? undefined : generatePassword();
    const password = input.password ?? generated!;
    const now = nowIso();
    const row = {
      id: randomUUID(),
      username: input.username,
      email,
      password_hash: await hashPassword(password),
      role: input.role,
      disabled: 0,
      must_change_password: input.mustChangePassword || generated ? 1 : 0,
      created_at: now,
      updated_at: now,
    };
    try {
      await this.db.transaction().execute(async (trx) => {
        if (await this.users.findByUsernameOrEmail(trx, row.username, email)) throw new AppError('USER_EXISTS');
        await this.users.insert(trx, row);
      });
    } catch (err) {
      // Two creations of one name at once both pass the check; the unique index stops the second.
      if (isUniqueViolation(err)) throw new AppError('USER_EXISTS');
      throw err;
    }
    return { user: toUser(row), ...(generated ? { generatedPassword: generated } : {}) };
  }

  /**
   * `POST /auth/register`: admins (user:manage) create any role up to their own; with open registration
   * anyone else may create a viewer, and asking for more is refused.
   */
  async register(
    actor: Principal | undefined,
    body: { username: string; email: string; password: string; role?: Role | undefined },
  ) {
    const role = body.role ?? 'viewer';
    if (actor?.permissions.has('user:manage')) {
      this.assertCanGrant(actor, role);
    } else if (!this.openRegistration) {
      throw new AppError('REGISTRATION_CLOSED');
    } else if (role !== 'viewer') {
      throw new AppError('ROLE_ESCALATION', 'Self-registration creates viewers only.', { field: 'role' });
    }
    return (await this.create({ ...body, role })).user;
  }

  /** An admin creating a user: any role up to the admin's own. */
  async createAs(actor: Principal, input: CreateUserInput) {
    this.assertCanGrant(actor, input.role);
    return this.create(input);
  }

  async get(id: string): Promise<User> {
    const row = await this.users.findById(this.db, id);
    if (!row) throw new AppError('USER_NOT_FOUND');
    return toUser(row);
  }

  async list(opts: { limit: number; cursor?: string | undefined; role?: string | undefined; q?: string | undefined }) {
    const after = decodeCursor(opts.cursor);
    const rows = await this.users.list(this.db, { limit: opts.limit + 1, after, role: opts.role, q: opts.q });
    const page = toPage(rows, opts.limit, (r) => ({ k: r.created_at, id: r.id }));
    return { items: page.items.map(toUser), next_cursor: page.next_cursor };
  }

  async update(actor: Principal, id: string, patch: UpdateUserBody): Promise<User> {
    return this.narrowing(this.updateRow(actor, id, patch));
  }

  private async updateRow(actor: Principal, id: string, patch: UpdateUserBody): Promise<User> {
    return this.db
      .transaction()
      .execute(async (trx) => {
        const row = await this.users.findById(trx, id);
        if (!row) throw new AppError('USER_NOT_FOUND');
        if (patch.role !== undefined && patch.role !== row.role) {
          if (id === actor.userId)
            throw new AppError('ROLE_ESCALATION', 'You cannot change your own role.', { field: 'role' });
          this.assertCanGrant(actor, patch.role);
          this.assertCanGrant(actor, roleOf(row.role));
        }
        const losesAdmin =
          row.role === 'admin' &&
          row.disabled === 0 &&
          ((patch.role && patch.role !== 'admin') || patch.disabled === true);
        if (losesAdmin) {
          await this.users.lockActiveAdmins(trx);
          if ((await this.users.countActiveAdmins(trx)) <= 1) throw new AppError('LAST_ADMIN');
        }
        if (patch.email) {
          const other = await this.users.findByEmail(trx, patch.email.toLowerCase());
          if (other && other.id !== id) throw new AppError('USER_EXISTS', undefined, { field: 'email' });
        }
        const now = nowIso();
        await this.users.update(trx, id, {
          ...(patch.email !== undefined ? { email: patch.email.toLowerCase() } : {}),
          ...(patch.role !== undefined ? { role: patch.role } : {}),
          ...(patch.disabled !== undefined ? { disabled: patch.disabled ? 1 : 0 } : {}),
          updated_at: now,
        });
        if (patch.disabled === true || (patch.role !== undefined && patch.role !== row.role)) {
          await this.sessions.revokeAllForUser(trx, id, now, patch.disabled ? 'user disabled' : 'role changed');
        }
        return toUser({ ...row, ...(await this.users.findById(trx, id))! });
      })
      .catch((err: unknown) => {
        // Another change took the email between our check and the write.
        if (isUniqueViolation(err)) throw new AppError('USER_EXISTS', undefined, { field: 'email' });
        throw err;
      });
  }

  private readonly removedListeners: ((id: string) => Promise<void>)[] = [];

  /**
   * Calls `listener` after a user's deletion committed: for state other modules keep in memory about users (the
   * rows themselves go with the user, by foreign key). The listener handles its own failures.
   */
  onRemoved(listener: (id: string) => Promise<void>): void {
    this.removedListeners.push(listener);
  }

  async remove(actor: Principal, id: string): Promise<void> {
    await this.narrowing(
      this.db.transaction().execute(async (trx) => {
        const row = await this.users.findById(trx, id);
        if (!row) throw new AppError('USER_NOT_FOUND');
        this.assertCanGrant(actor, roleOf(row.role));
        if (row.role === 'admin' && row.disabled === 0) {
          await this.users.lockActiveAdmins(trx);
          if ((await this.users.countActiveAdmins(trx)) <= 1) throw new AppError('LAST_ADMIN');
        }
        await this.users.delete(trx, id);
      }),
    );
    for (const listener of this.removedListeners) await listener(id);
  }

  /** Sets a new password (generated when none is given); the user must change it at next sign-in. */
  async resetPassword(id: string, password?: string): Promise<{ password: string }> {
    const row = await this.users.findById(this.db, id);
    if (!row) throw new AppError('USER_NOT_FOUND');
    const next = password ?? generatePassword();
    const now = nowIso();
    await this.narrowing(
      this.db.transaction().execute(async (trx) => {
        await this.users.update(trx, id, {
          password_hash: await hashPassword(next),
          must_change_password: 1,
          updated_at: now,
        });
        await this.sessions.revokeAllForUser(trx, id, now, 'password reset');
      }),
    );
    return { password: next };
  }

  async changeOwnPassword(actor: Principal, current: string, next: string): Promise<void> {
    const row = await this.users.findById(this.db, actor.userId);
    if (!row) throw new AppError('USER_NOT_FOUND');
    if (!(await verifyPassword(current, row.password_hash))) {
      throw new AppError('INVALID_CREDENTIALS', 'The current password is wrong.', { field: 'current_password' });
    }
    if (current === next) throw invalid('new_password', 'must differ from the current password');
    const hash = await hashPassword(next);
    const now = nowIso();
    await this.narrowing(
      this.db.transaction().execute(async (trx) => {
        await this.users.update(trx, actor.userId, { password_hash: hash, must_change_password: 0, updated_at: now });
        // Whoever else holds a session (perhaps the reason for the change) is signed out; this one stays.
        await this.sessions.revokeOthersForUser(trx, actor.userId, actor.sessionId, now, 'password changed');
      }),
    );
  }

  /** Role changes by the CLI (a local operator with database access). */
  async setRole(id: string, role: Role): Promise<User> {
    return this.narrowing(
      this.db.transaction().execute(async (trx) => {
        const row = await this.users.findById(trx, id);
        if (!row) throw new AppError('USER_NOT_FOUND');
        if (row.role === 'admin' && role !== 'admin' && row.disabled === 0) {
          await this.users.lockActiveAdmins(trx);
          if ((await this.users.countActiveAdmins(trx)) <= 1) throw new AppError('LAST_ADMIN');
        }
        const now = nowIso();
        await this.users.update(trx, id, { role, updated_at: now });
        // Access tokens carry no role, but end the sessions as the API does so the change is felt at once.
        if (role !== row.role) await this.sessions.revokeAllForUser(trx, id, now, 'role changed');
        return toUser({ ...row, role, updated_at: now });
      }),
    );
  }

  findByLogin(login: string) {
    return this.users.findByLogin(this.db, login);
  }

  count(): Promise<number> {
    return this.users.count(this.db);
  }

  private assertCanGrant(actor: Principal, role: Role): void {
    if (roleRank[role] > roleRank[actor.role]) {
      throw new AppError('ROLE_ESCALATION', `You cannot grant the role ${role}.`, { field: 'role' });
    }
  }
}
