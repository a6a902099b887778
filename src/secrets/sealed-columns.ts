/**
 * Every column that holds values sealed with the master key. Key rotation re-encrypts them all
 * and the start-up check looks in them for sealed data. A column holds either one sealed string,
 * or JSON text whose string values may be sealed (e.g. a target's config). A module that stores
 * credentials adds its column here.
 */
export interface SealedColumn {
  table: string;
  idColumn: string;
  column: string;
}

export const sealedColumns: readonly SealedColumn[] = [
  { table: 'targets', idColumn: 'id', column: 'config' },
  { table: 'llm_providers', idColumn: 'id', column: 'api_key' },
];
