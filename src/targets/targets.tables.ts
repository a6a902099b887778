export interface TargetsTable {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  type: string;
  /** JSON; secret fields are SecretBox-sealed strings. */
  config: string;
  status: string;
  last_activity_at: string | null;
  last_tested_at: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface TargetTables {
  targets: TargetsTable;
}
