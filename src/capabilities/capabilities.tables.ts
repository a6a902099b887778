export interface CapabilitiesTable {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  task_type: string;
  /** JSON array of target types. */
  target_types: string;
  /** JSON Schema of the inputs, as JSON. */
  input_schema: string;
  /** JSON object. */
  defaults: string;
  estimated_ms: number | null;
  created_at: string;
  updated_at: string;
}

export interface CapabilityTables {
  capabilities: CapabilitiesTable;
}
