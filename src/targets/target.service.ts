import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import type { SortOrder } from '../db/keyset.js';
import { nowIso } from '../db/time.js';
import { writeUniqueName } from '../db/unique-violation.js';
import { AppError, invalid } from '../errors/index.js';
import { decodeCursor, toPage } from '../http/pagination.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { checkConfig, supportedTargetTypes, type TargetType } from './target-config.js';
import { openConfig, redactConfig, sealConfig } from './target-secrets.js';
import { probeTarget } from './target-tester.js';
import type {
  CreateTargetBody,
  PatchTargetBody,
  ResolvedTarget,
  Target,
  TargetListQuery,
  TargetStatus,
  TargetTestResult,
} from './target.js';
import type { TargetRepository, TargetRow } from './target.repository.js';

type Json = Record<string, unknown>;

function realish(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

const within = (parent: string, child: string) => child === parent || child.startsWith(parent + path.sep);

/** Targets: the systems agents act on. Configs are validated per type; secrets are sealed at rest. */
export class TargetService {
  constructor(
    private readonly db: Db,
    private readonly repo: TargetRepository,
    private readonly secrets: SecretBox,
    private readonly opts: { dataDir: string },
  ) {}

  private toTarget(row: TargetRow): Target {
    const { config, secrets_set } = redactConfig(fromJson<Json>(row.config, {}));
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      type: row.type as TargetType,
      config,
      secrets_set,
      status: row.status as TargetStatus,
      last_activity_at: row.last_activity_at,
      last_tested_at: row.last_tested_at,
      last_error: row.last_error,
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }

  private async row(userId: string, id: string): Promise<TargetRow> {
    const row = await this.repo.findById(this.db, userId, id);
    if (!row) throw new AppError('TARGET_NOT_FOUND');
    return row;
  }

  /** Validates the config of its type and seals its secrets (keeping stored ones that were not resent). */
  private prepareConfig(type: TargetType, config: Json, previous?: Json): Json {
    if (!supportedTargetTypes.includes(type)) {
      throw new AppError('TARGET_TYPE_NOT_SUPPORTED', `Targets of type ${type} are not supported yet.`, {
        field: 'type',
      });
    }
    const checked = checkConfig(type as 'filesystem' | 'http' | 'shell', config);
    // The data folder (database, master key) must never be reachable through a target.
    const folder = type === 'filesystem' ? 'root' : type === 'shell' ? 'cwd' : undefined;
    if (folder) {
      const dir = realish(checked[folder] as string);
      const data = realish(this.opts.dataDir);
      if (within(dir, data) || within(data, dir)) {
        throw invalid(`/config/${folder}`, 'may not contain, or be inside, the Clarion data folder');
      }
    }
    return sealConfig(type, checked, this.secrets, previous);
  }

  async list(userId: string, query: TargetListQuery & { limit: number }) {
    const sort = query.sort ?? 'created_at';
    const order: SortOrder = query.order ?? (sort === 'name' ? 'asc' : 'desc');
    const rows = await this.repo.list(this.db, userId, {
      limit: query.limit + 1,
      after: decodeCursor(query.cursor),
      sort,
      order,
      type: query.type,
      status: query.status,
      q: query.q,
    });
    const page = toPage(rows, query.limit, (r) => ({ k: r[sort], id: r.id }));
    return { items: page.items.map((r) => this.toTarget(r)), next_cursor: page.next_cursor };
  }

  async get(userId: string, id: string): Promise<Target> {
    return this.toTarget(await this.row(userId, id));
  }

  async create(userId: string, body: CreateTargetBody): Promise<Target> {
    const config = this.prepareConfig(body.type, body.config);
    const now = nowIso();
    const row: TargetRow = {
      id: randomUUID(),
      owner_id: userId,
      name: body.name,
      description: body.description ?? '',
      type: body.type,
      config: toJson(config),
      status: 'disconnected',
      last_activity_at: null,
      last_tested_at: null,
      last_error: null,
      created_at: now,
      updated_at: now,
    };
    await this.write(userId, body.name, undefined, (db) => this.repo.insert(db, row));
    return this.toTarget(row);
  }

  /** PUT: every field given again; secrets not resent keep their stored value. */
  async replace(userId: string, id: string, body: CreateTargetBody): Promise<Target> {
    const current = await this.row(userId, id);
    const previous = current.type === body.type ? fromJson<Json>(current.config, {}) : undefined;
    const config = this.prepareConfig(body.type, body.config, previous);
    return this.update(userId, current, {
      name: body.name,
      description: body.description ?? '',
      type: body.type,
      config: toJson(config),
    });
  }

  async patch(userId: string, id: string, body: PatchTargetBody): Promise<Target> {
    const current = await this.row(userId, id);
    const config = body.config
      ? toJson(this.prepareConfig(current.type as TargetType, body.config, fromJson<Json>(current.config, {})))
      : undefined;
    return this.update(userId, current, {
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.description !== undefined ? { description: body.description } : {}),
      ...(config !== undefined ? { config } : {}),
    });
  }

  private async update(
    userId: string,
    current: TargetRow,
    patch: Partial<Pick<TargetRow, 'name' | 'description' | 'type' | 'config'>>,
  ): Promise<Target> {
    const merged: TargetRow = { ...current, ...patch, updated_at: nowIso() };
    // A changed config has not been tested yet.
    const untested = merged.config !== current.config || merged.type !== current.type;
    const next: TargetRow = untested ? { ...merged, status: 'disconnected', last_error: null } : merged;
    await this.write(userId, next.name, current.id, (db) =>
      this.repo.update(db, userId, current.id, {
        name: next.name,
        description: next.description,
        type: next.type,
        config: next.config,
        status: next.status,
        last_error: next.last_error,
        updated_at: next.updated_at,
      }),
    );
    return this.toTarget(next);
  }

  /** Runs a write that may collide on the name, answering 409 with the field either way. */
  private async write(userId: string, name: string, selfId: string | undefined, fn: (db: Db) => Promise<unknown>) {
    await writeUniqueName({
      existing: await this.repo.findByName(this.db, userId, name),
      selfId,
      conflict: () => new AppError('TARGET_EXISTS', undefined, { field: 'name' }),
      write: () => fn(this.db),
    });
  }

  async remove(userId: string, id: string): Promise<void> {
    if (!(await this.repo.delete(this.db, userId, id))) throw new AppError('TARGET_NOT_FOUND');
  }

  /** `POST /targets/:id/test`: really checks the target and records the outcome as its status. */
  async test(userId: string, id: string): Promise<TargetTestResult> {
    const row = await this.row(userId, id);
    const started = performance.now();
    const result = await probeTarget(this.resolve(row));
    const at = nowIso();
    await this.repo.update(this.db, userId, id, {
      status: result.status,
      last_error: result.ok ? null : result.message,
      last_tested_at: at,
      last_activity_at: at,
    });
    return { ...result, duration_ms: Math.round(performance.now() - started), tested_at: at };
  }

  private resolve(row: TargetRow): ResolvedTarget {
    return {
      id: row.id,
      name: row.name,
      type: row.type,
      config: openConfig(fromJson<Json>(row.config, {}), this.secrets),
    } as ResolvedTarget;
  }

  /** For runs: the target by id or name with its secrets opened. Not the owner's → TARGET_NOT_FOUND. */
  async resolveForRun(userId: string, ref: string): Promise<ResolvedTarget> {
    const row = await this.repo.findByRef(this.db, userId, ref);
    if (!row) throw new AppError('TARGET_NOT_FOUND', `Target ${JSON.stringify(ref)} not found.`);
    return this.resolve(row);
  }

  /** Type of a target by id or name, for compatibility checks; undefined when not the owner's. */
  async typeOf(userId: string, ref: string): Promise<{ id: string; name: string; type: TargetType } | undefined> {
    const row = await this.repo.findByRef(this.db, userId, ref);
    return row ? { id: row.id, name: row.name, type: row.type as TargetType } : undefined;
  }

  /** Records that a run used the target. */
  async touch(id: string): Promise<void> {
    await this.repo.touch(this.db, id, nowIso());
  }
}
