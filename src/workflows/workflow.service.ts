import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import { nowIso } from '../db/time.js';
import { AppError, invalid } from '../errors/index.js';
import { decodeCursor, toPage } from '../http/pagination.js';
import type { TaskRegistry } from '../tasks/task-registry.js';
import type { Expressions } from './expression.js';
import type { WorkflowBody, Workflow, WorkflowSummary, WorkflowVersion } from './workflow.js';
import type { WorkflowDefinition } from './workflow-definition.js';
import { checkWorkflow, parseWorkflowText, type ParseResult, type WorkflowIssue } from './workflow-parser.js';
import type { WorkflowRepository } from './workflow.repository.js';
import type { WorkflowsTable, WorkflowVersionsTable } from './workflows.tables.js';
import YAML from 'yaml';

export interface WorkflowServiceOptions {
  maxSteps: number;
  /** Names of a user's own capabilities, which steps may `uses:` beside task types. */
  capabilityNames?: (userId: string) => Promise<ReadonlySet<string>>;
}

/** Workflow definitions: parse and check, store each change as a new version, hand pinned versions to the engine. */
export class WorkflowService {
  private readonly pinned = new Map<string, WorkflowDefinition>();

  constructor(
    private readonly db: Db,
    private readonly repo: WorkflowRepository,
    private readonly tasks: TaskRegistry,
    private readonly expressions: Expressions,
    private readonly opts: WorkflowServiceOptions,
  ) {}

  /** Checks a definition without saving it; steps may use the task types and the given user's capabilities. */
  async validate(body: WorkflowBody, userId?: string): Promise<ParseResult> {
    if ((body.source === undefined) === (body.definition === undefined)) {
      throw invalid('source', 'send exactly one of "source" (YAML or JSON text) or "definition" (an object)');
    }
    const capabilities =
      userId && this.opts.capabilityNames ? await this.opts.capabilityNames(userId) : new Set<string>();
    const opts = {
      hasTask: (t: string) => this.tasks.has(t) || capabilities.has(t),
      expressions: this.expressions,
      maxSteps: this.opts.maxSteps,
    };
    return body.source !== undefined ? parseWorkflowText(body.source, opts) : checkWorkflow(body.definition, opts);
  }

  private async parseOrThrow(
    body: WorkflowBody,
    userId: string,
  ): Promise<{ definition: WorkflowDefinition; source: string; format: string }> {
    const r = await this.validate(body, userId);
    if (!r.ok) throw invalidWorkflow(r.issues);
    const source = body.source ?? YAML.stringify(body.definition);
    return { definition: r.definition, source, format: body.source !== undefined ? 'text' : 'json' };
  }

  async create(p: Principal, body: WorkflowBody): Promise<Workflow> {
    const { definition, source, format } = await this.parseOrThrow(body, p.userId);
    const now = nowIso();
    const row: WorkflowsTable = {
      id: randomUUID(),
      user_id: p.userId,
      name: definition.name,
      description: definition.description ?? '',
      version: 1,
      created_at: now,
      updated_at: now,
    };
    const version: WorkflowVersionsTable = {
      workflow_id: row.id,
      version: 1,
      definition: toJson(definition),
      source,
      format,
      created_by: p.userId,
      created_at: now,
    };
    try {
      await this.db.transaction().execute(async (trx) => {
        await this.repo.insert(trx, row);
        await this.repo.insertVersion(trx, version);
      });
    } catch (err) {
      if (await this.repo.findByName(this.db, p.userId, definition.name)) {
        throw new AppError('WORKFLOW_EXISTS', `You already have a workflow named ${definition.name}.`, {
          field: 'name',
        });
      }
      throw err;
    }
    return toWorkflow(row, version);
  }

  /** Saves a new version; the name may change. Runs already started keep their version. */
  async update(p: Principal, idOrName: string, body: WorkflowBody): Promise<Workflow> {
    const { definition, source, format } = await this.parseOrThrow(body, p.userId);
    return this.db.transaction().execute(async (trx) => {
      const row = await this.repo.find(trx, p.userId, idOrName);
      if (!row) throw new AppError('WORKFLOW_NOT_FOUND');
      const current = await this.repo.version(trx, row.id, row.version);
      if (current && current.source === source && current.definition === toJson(definition)) {
        return toWorkflow(row, current);
      }
      if (definition.name !== row.name && (await this.repo.findByName(trx, p.userId, definition.name))) {
        throw new AppError('WORKFLOW_EXISTS', `You already have a workflow named ${definition.name}.`, {
          field: 'name',
        });
      }
      const now = nowIso();
      const next = row.version + 1;
      const version: WorkflowVersionsTable = {
        workflow_id: row.id,
        version: next,
        definition: toJson(definition),
        source,
        format,
        created_by: p.userId,
        created_at: now,
      };
      await this.repo.insertVersion(trx, version);
      const fields = {
        version: next,
        name: definition.name,
        description: definition.description ?? '',
        updated_at: now,
      };
      await this.repo.bumpVersion(trx, p.userId, row.id, fields);
      return toWorkflow({ ...row, ...fields }, version);
    });
  }

  async get(userId: string, idOrName: string): Promise<Workflow> {
    const row = await this.repo.find(this.db, userId, idOrName);
    if (!row) throw new AppError('WORKFLOW_NOT_FOUND');
    const v = await this.repo.version(this.db, row.id, row.version);
    if (!v) throw new AppError('WORKFLOW_NOT_FOUND');
    return toWorkflow(row, v);
  }

  /** The owner's workflow row, or 404. */
  async find(userId: string, idOrName: string): Promise<WorkflowsTable> {
    const row = await this.repo.find(this.db, userId, idOrName);
    if (!row) throw new AppError('WORKFLOW_NOT_FOUND');
    return row;
  }

  async list(
    userId: string,
    q: { limit: number; cursor?: string | undefined; q?: string | undefined },
  ): Promise<{ items: WorkflowSummary[]; next_cursor: string | null }> {
    const after = decodeCursor(q.cursor);
    const rows = await this.repo.list(this.db, userId, {
      limit: q.limit,
      ...(after ? { after: { k: String(after.k), id: after.id } } : {}),
      ...(q.q ? { q: q.q } : {}),
    });
    const page = toPage(rows, q.limit, (r) => ({ k: r.name, id: r.id }));
    return { items: page.items.map(toSummary), next_cursor: page.next_cursor };
  }

  async remove(userId: string, idOrName: string): Promise<void> {
    const row = await this.repo.find(this.db, userId, idOrName);
    if (!row || !(await this.repo.remove(this.db, userId, row.id))) throw new AppError('WORKFLOW_NOT_FOUND');
  }

  async versions(userId: string, idOrName: string): Promise<WorkflowVersion[]> {
    const row = await this.find(userId, idOrName);
    return (await this.repo.versions(this.db, row.id)).map(toVersion);
  }

  async version(userId: string, idOrName: string, version: number): Promise<WorkflowVersion> {
    const row = await this.find(userId, idOrName);
    const v = await this.repo.version(this.db, row.id, version);
    if (!v) throw new AppError('WORKFLOW_VERSION_NOT_FOUND');
    return toVersion(v);
  }

  /** The definition a run pinned (versions never change, so it is cached). */
  async definition(workflowId: string, version: number): Promise<WorkflowDefinition> {
    const key = `${workflowId}:${version}`;
    const hit = this.pinned.get(key);
    if (hit) return hit;
    const v = await this.repo.version(this.db, workflowId, version);
    if (!v) throw new AppError('WORKFLOW_VERSION_NOT_FOUND');
    const def = fromJson<WorkflowDefinition>(v.definition, {} as WorkflowDefinition);
    if (this.pinned.size > 1000) this.pinned.clear();
    this.pinned.set(key, def);
    return def;
  }
}

export function invalidWorkflow(issues: WorkflowIssue[]): AppError {
  const first = issues[0];
  const where = first ? `${first.line ? `line ${first.line}:${first.column} ` : ''}${first.path || '/'}` : '';
  return new AppError('WORKFLOW_INVALID', `The workflow is not valid: ${where} ${first?.message ?? ''}`.trim(), {
    issues,
  });
}

function toSummary(r: WorkflowsTable): WorkflowSummary {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    version: r.version,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

function toWorkflow(r: WorkflowsTable, v: WorkflowVersionsTable): Workflow {
  return { ...toSummary(r), definition: fromJson(v.definition, {}), source: v.source };
}

function toVersion(v: WorkflowVersionsTable): WorkflowVersion {
  return {
    workflow_id: v.workflow_id,
    version: v.version,
    definition: fromJson(v.definition, {}),
    source: v.source,
    created_by: v.created_by,
    created_at: v.created_at,
  };
}
