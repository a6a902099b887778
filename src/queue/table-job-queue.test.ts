import { testDialects } from '../../test/helpers/databases.js';
import { openTestDatabase } from '../../test/helpers/test-database.js';
import { jobQueueContract } from './job-queue.contract.js';
import { TableJobQueue } from './table-job-queue.js';

for (const dialect of testDialects()) {
  jobQueueContract(`table (${dialect})`, async () => {
    const t = await openTestDatabase(dialect);
    return { queue: new TableJobQueue(t.database.db, t.database.dialect), close: t.close };
  });
}
