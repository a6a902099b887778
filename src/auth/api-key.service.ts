import { randomUUID } from 'node:crypto';
import type { Db } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import { isoIn, nowIso } from '../db/time.js';
import { AppError } from '../errors/index.js';
import { generateApiKey } from './api-key-format.js';
import type { CredentialCache } from './credential-cache.js';
import type { ApiKeyRepository, ApiKeyRow } from './api-key.repository.js';
import type { Principal } from './principal.js';
import type { ApiKey, CreateApiKeyBody } from './user.js';

const toApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  scopes: fromJson<string[] | null>(row.scopes, null),
  expires_at: row.expires_at,
  last_used_at: row.last_used_at,
  revoked_at: row.revoked_at,
  created_at: row.created_at,
});

/** A user's API keys. The key is returned once at creation; only its hash is kept. */
export class ApiKeyService {
  constructor(
    private readonly db: Db,
    private readonly repo: ApiKeyRepository,
    private readonly credentials?: CredentialCache,
  ) {}

  async create(actor: Principal, body: CreateApiKeyBody): Promise<{ api_key: ApiKey; key: string }> {
    // Scopes can never exceed what the creator holds right now (a scoped key cannot mint a wider one).
    const over = (body.scopes ?? []).filter((s) => !actor.permissions.has(s));
    if (over.length > 0) {
      throw new AppError('ROLE_ESCALATION', `You do not hold: ${over.join(', ')}.`, { field: 'scopes', scopes: over });
    }
    const scopes = body.scopes ?? (actor.via === 'api_key' ? [...actor.permissions] : null);
    const { key, prefix, hash } = generateApiKey();
    const row: ApiKeyRow = {
      id: randomUUID(),
      user_id: actor.userId,
      name: body.name,
      prefix,
      token_hash: hash,
      scopes: scopes ? toJson(scopes) : null,
      expires_at: body.expires_in_days ? isoIn(body.expires_in_days * 86_400_000) : null,
      last_used_at: null,
      revoked_at: null,
      created_at: nowIso(),
    };
    await this.repo.insert(this.db, row);
    return { api_key: toApiKey(row), key };
  }

  async list(actor: Pick<Principal, 'userId'>): Promise<ApiKey[]> {
    return (await this.repo.listForUser(this.db, actor.userId)).map(toApiKey);
  }

  async revoke(actor: Pick<Principal, 'userId'>, id: string): Promise<ApiKey> {
    const row = await this.repo.findForUser(this.db, actor.userId, id);
    if (!row) throw new AppError('API_KEY_NOT_FOUND');
    await this.repo.revoke(this.db, actor.userId, id, nowIso());
    this.credentials?.invalidate();
    return toApiKey((await this.repo.findForUser(this.db, actor.userId, id))!);
  }
}
