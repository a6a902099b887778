import { randomUUID } from 'node:crypto';
import type { Db } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import { nowIso } from '../db/time.js';
import { writeUniqueName } from '../db/unique-violation.js';
import { AppError, invalid } from '../errors/index.js';
import { decodeCursor, encodeCursor } from '../http/pagination.js';
import type { TaskDefinition } from '../tasks/task.js';
import type { TaskRegistry } from '../tasks/task-registry.js';
import type { CapabilityRepository, CapabilityRow } from './capability.repository.js';
import type {
  Capability,
  CapabilityListQuery,
  CompatibilityLookups,
  CompatibilityQuery,
  CompatibilityResult,
  CreateCapabilityBody,
  PatchCapabilityBody,
} from './capability.js';
import { InputSchemaChecker, InputValidator } from './input-schema.js';

const SYSTEM_PREFIX = 'system:';
const ANY_OBJECT = { type: 'object' } as const;

function systemCapability(task: TaskDefinition): Capability {
  return {
    id: `${SYSTEM_PREFIX}${task.type}`,
    name: task.type,
    description: task.description,
    system: true,
    task_type: task.type,
    target_types: [...task.targetTypes],
    requires_agent: task.requiresAgent === true,
    // TypeBox schemas carry symbol keys; the JSON form is what clients see.
    input_schema: JSON.parse(JSON.stringify(task.inputSchema ?? ANY_OBJECT)) as Record<string, unknown>,
    defaults: {},
    estimated_ms: task.estimatedMs ?? null,
    created_at: null,
    updated_at: null,
  };
}

const no = (code: string, reason: string) => ({ ok: false, code, reason }) as const;

/**
 * Capabilities: one built-in (read-only) per registered task type, plus each user's own, which
 * bind a task type to target types, an input schema and defaults.
 */
export class CapabilityService {
  private readonly schemas = new InputSchemaChecker();
  private readonly inputs = new InputValidator();

  constructor(
    private readonly db: Db,
    private readonly repo: CapabilityRepository,
    private readonly tasks: TaskRegistry,
    private readonly lookups: CompatibilityLookups,
  ) {}

  private toCapability(row: CapabilityRow): Capability {
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      system: false,
      task_type: row.task_type,
      target_types: fromJson<string[]>(row.target_types, []),
      requires_agent: this.tasks.get(row.task_type)?.requiresAgent === true,
      input_schema: fromJson<Record<string, unknown>>(row.input_schema, { ...ANY_OBJECT }),
      defaults: fromJson<Record<string, unknown>>(row.defaults, {}),
      estimated_ms: row.estimated_ms,
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }

  systemCapabilities(): Capability[] {
    return this.tasks.list().map(systemCapability);
  }

  async list(userId: string, query: CapabilityListQuery & { limit: number }) {
    const after = decodeCursor(query.cursor);
    const lower = query.q?.toLowerCase();
    // System capabilities come first (by task type), then the user's own (by creation).
    let system =
      query.system === false
        ? []
        : this.systemCapabilities().filter(
            (c) =>
              (!query.task_type || c.task_type === query.task_type) &&
              (!query.target_type || c.target_types.includes(query.target_type)) &&
              (!lower || c.name.toLowerCase().includes(lower)),
          );
    const afterSystem = after?.id.startsWith(SYSTEM_PREFIX);
    if (after && afterSystem) {
      // Continue after the cursor's position in the registry's order (not a string comparison,
      // which may disagree with it).
      const at = system.findIndex((c) => c.id === after.id);
      system = at >= 0 ? system.slice(at + 1) : system.filter((c) => c.id > after.id);
    }
    if (after && !afterSystem) system = [];
    const items: Capability[] = system.slice(0, query.limit + 1);
    if (items.length <= query.limit && query.system !== true) {
      const rows = await this.repo.list(this.db, userId, {
        limit: query.limit + 1 - items.length,
        after: after && !afterSystem ? after : undefined,
        task_type: query.task_type,
        target_type: query.target_type,
        q: query.q,
      });
      items.push(...rows.map((r) => this.toCapability(r)));
    }
    const more = items.length > query.limit;
    const page = more ? items.slice(0, query.limit) : items;
    const last = page[page.length - 1];
    return {
      items: page,
      next_cursor:
        more && last ? encodeCursor({ k: last.system ? last.task_type : (last.created_at ?? ''), id: last.id }) : null,
    };
  }

  /** By id (`system:<type>` or a UUID) or name; user-defined names are looked up before task types. */
  async find(userId: string, ref: string): Promise<Capability | undefined> {
    if (ref.startsWith(SYSTEM_PREFIX)) {
      const task = this.tasks.get(ref.slice(SYSTEM_PREFIX.length));
      return task ? systemCapability(task) : undefined;
    }
    const row = (await this.repo.findById(this.db, userId, ref)) ?? (await this.repo.findByName(this.db, userId, ref));
    if (row) return this.toCapability(row);
    const task = this.tasks.get(ref);
    return task ? systemCapability(task) : undefined;
  }

  async get(userId: string, ref: string): Promise<Capability> {
    const cap = await this.find(userId, ref);
    if (!cap) throw new AppError('CAPABILITY_NOT_FOUND', `Capability ${JSON.stringify(ref)} not found.`);
    return cap;
  }

  private async ownRow(userId: string, id: string): Promise<CapabilityRow> {
    if (id.startsWith(SYSTEM_PREFIX) && this.tasks.has(id.slice(SYSTEM_PREFIX.length))) {
      throw new AppError('CAPABILITY_READ_ONLY');
    }
    const row = await this.repo.findById(this.db, userId, id);
    if (!row) throw new AppError('CAPABILITY_NOT_FOUND');
    return row;
  }

  /** Checks a user-defined capability against the task registry and JSON Schema rules. */
  private validate(c: {
    name: string;
    task_type: string;
    target_types?: string[] | undefined;
    input_schema?: Record<string, unknown> | undefined;
  }): string[] {
    const task = this.tasks.get(c.task_type);
    if (!task) {
      throw new AppError('TASK_TYPE_UNKNOWN', `No task type ${JSON.stringify(c.task_type)} is registered.`, {
        field: 'task_type',
        known: this.tasks.list().map((t) => t.type),
      });
    }
    if (this.tasks.has(c.name)) throw invalid('name', 'is the name of a built-in capability');
    const targetTypes = c.target_types ?? [...task.targetTypes];
    if (task.targetTypes.length > 0) {
      const bad = targetTypes.findIndex((t) => !task.targetTypes.includes(t));
      if (bad >= 0) {
        throw invalid(
          `/target_types/${bad}`,
          `the task ${task.type} acts on ${task.targetTypes.join(', ')} targets, not ${targetTypes[bad]}`,
        );
      }
    } else if (targetTypes.length > 0) {
      throw invalid('/target_types', `the task ${task.type} acts on no target`);
    }
    if (c.input_schema) this.schemas.check(c.input_schema);
    return targetTypes;
  }

  async create(userId: string, body: CreateCapabilityBody): Promise<Capability> {
    const targetTypes = this.validate(body);
    const now = nowIso();
    const row: CapabilityRow = {
      id: randomUUID(),
      owner_id: userId,
      name: body.name,
      description: body.description ?? '',
      task_type: body.task_type,
      target_types: toJson(targetTypes),
      input_schema: toJson(body.input_schema ?? ANY_OBJECT),
      defaults: toJson(body.defaults ?? {}),
      estimated_ms: body.estimated_ms ?? null,
      created_at: now,
      updated_at: now,
    };
    await this.write(userId, row.name, undefined, () => this.repo.insert(this.db, row));
    return this.toCapability(row);
  }

  async replace(userId: string, id: string, body: CreateCapabilityBody): Promise<Capability> {
    const current = await this.ownRow(userId, id);
    return this.save(userId, current, {
      name: body.name,
      description: body.description ?? '',
      task_type: body.task_type,
      target_types: body.target_types,
      input_schema: body.input_schema ?? { ...ANY_OBJECT },
      defaults: body.defaults ?? {},
      estimated_ms: body.estimated_ms ?? null,
    });
  }

  async patch(userId: string, id: string, body: PatchCapabilityBody): Promise<Capability> {
    const current = await this.ownRow(userId, id);
    const cur = this.toCapability(current);
    const taskChanged = body.task_type !== undefined && body.task_type !== cur.task_type;
    return this.save(userId, current, {
      name: body.name ?? cur.name,
      description: body.description ?? cur.description,
      task_type: body.task_type ?? cur.task_type,
      // A new task type brings its own target types unless new ones are given.
      target_types: body.target_types ?? (taskChanged ? undefined : cur.target_types),
      input_schema: body.input_schema ?? cur.input_schema,
      defaults: body.defaults ?? cur.defaults,
      estimated_ms: body.estimated_ms !== undefined ? body.estimated_ms : cur.estimated_ms,
    });
  }

  private async save(
    userId: string,
    current: CapabilityRow,
    next: {
      name: string;
      description: string;
      task_type: string;
      target_types: string[] | undefined;
      input_schema: Record<string, unknown>;
      defaults: Record<string, unknown>;
      estimated_ms: number | null;
    },
  ): Promise<Capability> {
    const targetTypes = this.validate(next);
    const row: CapabilityRow = {
      ...current,
      name: next.name,
      description: next.description,
      task_type: next.task_type,
      target_types: toJson(targetTypes),
      input_schema: toJson(next.input_schema),
      defaults: toJson(next.defaults),
      estimated_ms: next.estimated_ms,
      updated_at: nowIso(),
    };
    const { id: _id, owner_id: _owner, created_at: _created, ...patch } = row;
    await this.write(userId, row.name, row.id, () => this.repo.update(this.db, userId, row.id, patch));
    return this.toCapability(row);
  }

  private async write(userId: string, name: string, selfId: string | undefined, fn: () => Promise<unknown>) {
    await writeUniqueName({
      existing: await this.repo.findByName(this.db, userId, name),
      selfId,
      conflict: () => new AppError('CAPABILITY_EXISTS', undefined, { field: 'name' }),
      write: () => fn(),
    });
  }

  async remove(userId: string, id: string): Promise<void> {
    await this.ownRow(userId, id);
    const users = await this.repo.agentsUsing(this.db, userId, id);
    if (users.length > 0) {
      throw new AppError('CAPABILITY_IN_USE', `Used by the agents ${users.join(', ')}.`, { agents: users });
    }
    if (!(await this.repo.delete(this.db, userId, id))) throw new AppError('CAPABILITY_NOT_FOUND');
  }

  /**
   * Whether `agent × capability × target` can run, and why not. Unknown or not-owned references
   * answer *_NOT_FOUND. An agent must list a capability it uses as a tool; capabilities whose task
   * runs the agent itself (llm.chat, agent) need no grant.
   */
  async checkCompatibility(q: CompatibilityQuery): Promise<CompatibilityResult> {
    const cap = typeof q.capability === 'string' ? await this.find(q.userId, q.capability) : q.capability;
    if (!cap) return no('CAPABILITY_NOT_FOUND', `Capability ${JSON.stringify(q.capability)} not found.`);
    const task = this.tasks.get(cap.task_type);
    if (!task) return no('TASK_TYPE_UNKNOWN', `The task type ${cap.task_type} of ${cap.name} is not registered.`);

    const agent = typeof q.agent === 'string' ? await this.lookups.agent(q.userId, q.agent) : q.agent;
    if (q.agent !== undefined && !agent) return no('AGENT_NOT_FOUND', `Agent ${JSON.stringify(q.agent)} not found.`);
    if (task.requiresAgent && !agent) return no('AGENT_REQUIRED', `${cap.name} needs an agent.`);
    if (agent && !task.requiresAgent && !agent.capabilities.some((c) => c === cap.id || c === cap.name)) {
      return no('CAPABILITY_NOT_GRANTED', `The agent ${agent.name} may not use ${cap.name}.`);
    }

    const target = typeof q.target === 'string' ? await this.lookups.target(q.userId, q.target) : q.target;
    if (q.target !== undefined && !target)
      return no('TARGET_NOT_FOUND', `Target ${JSON.stringify(q.target)} not found.`);
    if (cap.target_types.length > 0) {
      if (!target) return no('TARGET_REQUIRED', `${cap.name} needs a target of type ${cap.target_types.join(' or ')}.`);
      if (!cap.target_types.includes(target.type)) {
        return no(
          'TARGET_TYPE_MISMATCH',
          `${cap.name} acts on ${cap.target_types.join(' or ')} targets; ${target.name} is ${target.type}.`,
        );
      }
    }
    return { ok: true };
  }

  /** Names of the user's own capabilities (workflow steps may `uses:` them). */
  async namesOf(userId: string): Promise<ReadonlySet<string>> {
    return new Set((await this.repo.names(this.db, userId)).map((r) => r.name));
  }

  /**
   * Turns a workflow step that `uses:` a capability into the task to run: the capability's defaults
   * under the step's (rendered) `with`, checked against its input schema, and the agent and target
   * checked as `POST /capabilities/check` would. Answers why not, with a stable code, when it cannot run.
   */
  async prepareStep(
    userId: string,
    ref: string,
    input: unknown,
    on: { agent?: string; target?: string },
  ): Promise<
    { ok: true; taskType: string; input: Record<string, unknown> } | { ok: false; code: string; reason: string }
  > {
    const cap = await this.find(userId, ref);
    if (!cap) return no('CAPABILITY_NOT_FOUND', `Capability ${JSON.stringify(ref)} not found.`);
    const merged = { ...cap.defaults, ...(input as Record<string, unknown>) };
    try {
      this.inputs.validate(`${cap.id}@${cap.updated_at ?? ''}`, cap.input_schema, merged, 'with');
    } catch (err) {
      return no('VALIDATION_FAILED', (err as Error).message);
    }
    const compat = await this.checkCompatibility({ userId, capability: cap, agent: on.agent, target: on.target });
    if (!compat.ok) return no(compat.code, compat.reason);
    return { ok: true, taskType: cap.task_type, input: merged };
  }

  /** Resolves capability references (ids or names) to ids; a reference the user cannot use is a 400 on its index. */
  async resolveRefs(userId: string, refs: readonly string[], field: string): Promise<string[]> {
    const ids: string[] = [];
    for (const [i, ref] of refs.entries()) {
      const cap = await this.find(userId, ref);
      if (!cap) throw invalid(`${field}/${i}`, `the capability ${JSON.stringify(ref)} does not exist or is not yours`);
      if (!ids.includes(cap.id)) ids.push(cap.id);
    }
    return ids;
  }
}
