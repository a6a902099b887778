import { Type, type Static, type TSchema } from 'typebox';
import { Nullable, PageQuery, StrictObject, Timestamp } from '../http/schemas.js';
import { Description, EntityName, SortQuery } from '../targets/target.js';

/** Request fields that may be cleared: null is tried first, so body coercion never turns it into 0. */
const NullFirst = <T extends TSchema>(schema: T) => Type.Union([Type.Null(), schema]);

export const agentStatuses = ['idle', 'active', 'paused', 'error'] as const;
export type AgentStatus = (typeof agentStatuses)[number];
const StatusSchema = Type.Unsafe<AgentStatus>(Type.String({ enum: [...agentStatuses] }));

/** The optional on-chain identity of an agent (collection, token, contract, image). */
export const Nft = StrictObject({
  collection: Type.String({ minLength: 1, maxLength: 200 }),
  token_id: Type.String({ minLength: 1, maxLength: 100 }),
  contract_address: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  image_url: Type.Optional(Type.String({ maxLength: 2048, pattern: '^(https?|ipfs)://' })),
});
export type Nft = Static<typeof Nft>;

const Ref = Type.String({ minLength: 1, maxLength: 200 });

export const Agent = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  status: StatusSchema,
  model: Type.String({ description: 'a provider model (`provider/model`), a model name or an alias' }),
  system_prompt: Type.String(),
  temperature: Nullable(Type.Number()),
  max_tokens: Nullable(Type.Integer()),
  capabilities: Type.Array(Type.String(), { description: 'capability ids (`system:<task type>` for built-in ones)' }),
  memory_collections: Type.Array(Type.String()),
  nft: Nullable(
    Type.Object({
      collection: Type.String(),
      token_id: Type.String(),
      contract_address: Type.Optional(Type.String()),
      image_url: Type.Optional(Type.String()),
    }),
  ),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type Agent = Static<typeof Agent>;

const fields = {
  description: Type.Optional(Description),
  status: Type.Optional(StatusSchema),
  model: Type.String({ minLength: 1, maxLength: 200 }),
  system_prompt: Type.Optional(Type.String({ maxLength: 100_000 })),
  temperature: Type.Optional(NullFirst(Type.Number({ minimum: 0, maximum: 2 }))),
  max_tokens: Type.Optional(NullFirst(Type.Integer({ minimum: 1, maximum: 10_000_000 }))),
  capabilities: Type.Optional(Type.Array(Ref, { maxItems: 200, description: 'capability ids or names' })),
  memory_collections: Type.Optional(Type.Array(Ref, { maxItems: 100, description: 'collection ids or names' })),
  nft: Type.Optional(NullFirst(Nft)),
};

export const CreateAgentBody = StrictObject({ name: EntityName, ...fields });
export type CreateAgentBody = Static<typeof CreateAgentBody>;

export const PatchAgentBody = StrictObject(
  { name: Type.Optional(EntityName), ...fields, model: Type.Optional(fields.model) },
  { minProperties: 1 },
);
export type PatchAgentBody = Static<typeof PatchAgentBody>;

export const AgentListQuery = StrictObject({
  ...PageQuery,
  ...SortQuery,
  status: Type.Optional(StatusSchema),
  q: Type.Optional(Type.String({ maxLength: 100, description: 'name contains (case-insensitive)' })),
  capability: Type.Optional(Type.String({ maxLength: 200, description: 'agents that may use this capability' })),
});
export type AgentListQuery = Static<typeof AgentListQuery>;

/** Whether a memory collection reference (id or name) is one the user may read. */
export interface CollectionChecker {
  exists(userId: string, ref: string): Promise<boolean>;
}
