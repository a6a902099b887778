import { randomUUID } from 'node:crypto';
import type { CapabilityService } from '../capabilities/capability.service.js';
import type { Db } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import type { SortOrder } from '../db/keyset.js';
import { nowIso } from '../db/time.js';
import { writeUniqueName } from '../db/unique-violation.js';
import { AppError, invalid } from '../errors/index.js';
import { decodeCursor, toPage } from '../http/pagination.js';
import type {
  Agent,
  AgentListQuery,
  AgentStatus,
  CollectionChecker,
  CreateAgentBody,
  Nft,
  PatchAgentBody,
} from './agent.js';
import type { AgentRepository, AgentRow } from './agent.repository.js';

type AgentFields = Omit<AgentRow, 'id' | 'owner_id' | 'created_at' | 'updated_at'>;

/** Agents: an LLM configuration plus the capabilities and memory it may use, checked at save. */
export class AgentService {
  constructor(
    private readonly db: Db,
    private readonly repo: AgentRepository,
    private readonly capabilities: CapabilityService,
    private readonly collections: CollectionChecker,
  ) {}

  private toAgent(row: AgentRow): Agent {
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      status: row.status as AgentStatus,
      model: row.model,
      system_prompt: row.system_prompt,
      temperature: row.temperature === null ? null : Number(row.temperature),
      max_tokens: row.max_tokens,
      capabilities: fromJson<string[]>(row.capabilities, []),
      memory_collections: fromJson<string[]>(row.memory_collections, []),
      nft: fromJson<Nft | null>(row.nft, null),
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }

  private async row(userId: string, id: string): Promise<AgentRow> {
    const row = await this.repo.findById(this.db, userId, id);
    if (!row) throw new AppError('AGENT_NOT_FOUND');
    return row;
  }

  /** Capabilities become ids; collections must be the user's. Both are refused here, not at run. */
  private async fields(userId: string, a: CreateAgentBody): Promise<AgentFields> {
    const capabilities = await this.capabilities.resolveRefs(userId, a.capabilities ?? [], '/capabilities');
    const collections = [...new Set(a.memory_collections ?? [])];
    for (const [i, ref] of collections.entries()) {
      if (!(await this.collections.exists(userId, ref))) {
        throw invalid(
          `/memory_collections/${i}`,
          `the memory collection ${JSON.stringify(ref)} does not exist or is not yours`,
        );
      }
    }
    return {
      name: a.name,
      description: a.description ?? '',
      status: a.status ?? 'idle',
      model: a.model,
      system_prompt: a.system_prompt ?? '',
      temperature: a.temperature ?? null,
      max_tokens: a.max_tokens ?? null,
      capabilities: toJson(capabilities),
      memory_collections: toJson(collections),
      nft: a.nft ? toJson(a.nft) : null,
    };
  }

  async list(userId: string, query: AgentListQuery & { limit: number }) {
    const sort = query.sort ?? 'created_at';
    const order: SortOrder = query.order ?? (sort === 'name' ? 'asc' : 'desc');
    let capabilityId: string | undefined;
    if (query.capability) {
      const cap = await this.capabilities.find(userId, query.capability);
      if (!cap) return { items: [], next_cursor: null };
      capabilityId = cap.id;
    }
    const rows = await this.repo.list(this.db, userId, {
      limit: query.limit + 1,
      after: decodeCursor(query.cursor),
      sort,
      order,
      status: query.status,
      q: query.q,
      capabilityId,
    });
    const page = toPage(rows, query.limit, (r) => ({ k: r[sort], id: r.id }));
    return { items: page.items.map((r) => this.toAgent(r)), next_cursor: page.next_cursor };
  }

  async get(userId: string, id: string): Promise<Agent> {
    return this.toAgent(await this.row(userId, id));
  }

  /** For runs and chat: the agent by id or name. Not the owner's → AGENT_NOT_FOUND. */
  async getForRun(userId: string, ref: string): Promise<Agent> {
    const row = await this.repo.findByRef(this.db, userId, ref);
    if (!row) throw new AppError('AGENT_NOT_FOUND', `Agent ${JSON.stringify(ref)} not found.`);
    return this.toAgent(row);
  }

  /** For compatibility checks: undefined when not the owner's. */
  async findForCheck(userId: string, ref: string) {
    const row = await this.repo.findByRef(this.db, userId, ref);
    return row ? { id: row.id, name: row.name, capabilities: fromJson<string[]>(row.capabilities, []) } : undefined;
  }

  async create(userId: string, body: CreateAgentBody): Promise<Agent> {
    const now = nowIso();
    const row: AgentRow = {
      id: randomUUID(),
      owner_id: userId,
      ...(await this.fields(userId, body)),
      created_at: now,
      updated_at: now,
    };
    await this.write(userId, row.name, undefined, () => this.repo.insert(this.db, row));
    return this.toAgent(row);
  }

  /** PUT: the agent as given; omitted optional fields return to their defaults. */
  async replace(userId: string, id: string, body: CreateAgentBody): Promise<Agent> {
    const current = await this.row(userId, id);
    return this.save(userId, current, await this.fields(userId, body));
  }

  async patch(userId: string, id: string, body: PatchAgentBody): Promise<Agent> {
    const current = await this.row(userId, id);
    const cur = this.toAgent(current);
    const merged: CreateAgentBody = {
      name: body.name ?? cur.name,
      description: body.description ?? cur.description,
      status: body.status ?? cur.status,
      model: body.model ?? cur.model,
      system_prompt: body.system_prompt ?? cur.system_prompt,
      temperature: body.temperature !== undefined ? body.temperature : cur.temperature,
      max_tokens: body.max_tokens !== undefined ? body.max_tokens : cur.max_tokens,
      capabilities: body.capabilities ?? cur.capabilities,
      memory_collections: body.memory_collections ?? cur.memory_collections,
      nft: body.nft !== undefined ? body.nft : (cur.nft as Nft | null),
    };
    return this.save(userId, current, await this.fields(userId, merged));
  }

  private async save(userId: string, current: AgentRow, fields: AgentFields): Promise<Agent> {
    const row: AgentRow = { ...current, ...fields, updated_at: nowIso() };
    const { id: _id, owner_id: _owner, created_at: _created, ...patch } = row;
    await this.write(userId, row.name, row.id, () => this.repo.update(this.db, userId, row.id, patch));
    return this.toAgent(row);
  }

  private async write(userId: string, name: string, selfId: string | undefined, fn: () => Promise<unknown>) {
    await writeUniqueName({
      existing: await this.repo.findByName(this.db, userId, name),
      selfId,
      conflict: () => new AppError('AGENT_EXISTS', undefined, { field: 'name' }),
      write: () => fn(),
    });
  }

  async remove(userId: string, id: string): Promise<void> {
    if (!(await this.repo.delete(this.db, userId, id))) throw new AppError('AGENT_NOT_FOUND');
  }
}
