export interface AgentsTable {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  status: string;
  model: string;
  system_prompt: string;
  temperature: number | null;
  max_tokens: number | null;
  /** JSON array of capability ids. */
  capabilities: string;
  /** JSON array of memory collection references. */
  memory_collections: string;
  /** JSON object or null. */
  nft: string | null;
  created_at: string;
  updated_at: string;
}

export interface AgentTables {
  agents: AgentsTable;
}
