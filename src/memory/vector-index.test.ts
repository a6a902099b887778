import { describe } from 'vitest';
import { testDialects } from '../../test/helpers/databases.js';
import { openTestDatabase } from '../../test/helpers/test-database.js';
import { InProcessVectorIndex } from './in-process-vector-index.js';
import { SqlVectorIndex } from './sql-vector-index.js';
import { vectorIndexContract } from './vector-index.contract.js';

describe.each(testDialects())('vector indexes on %s', (dialect) => {
  vectorIndexContract(
    'in-process',
    (s) => new InProcessVectorIndex(s),
    () => openTestDatabase(dialect),
  );
  vectorIndexContract(
    'sql',
    (s) => new SqlVectorIndex(s),
    () => openTestDatabase(dialect),
  );
});
