import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type TestDialect = 'sqlite' | 'postgres';

const pgUrl = process.env.CLARION_TEST_DATABASE_URL;
const requireServices = process.env.CLARION_TEST_REQUIRE_SERVICES === '1';

/**
 * The databases every repository and integration suite runs on: SQLite always, PostgreSQL when
 * CLARION_TEST_DATABASE_URL is set. With CLARION_TEST_REQUIRE_SERVICES=1 a missing URL is an error, not a skip.
 */
export function testDialects(): TestDialect[] {
  if (pgUrl) return ['sqlite', 'postgres'];
  if (requireServices) {
    throw new Error('CLARION_TEST_REQUIRE_SERVICES=1 but CLARION_TEST_DATABASE_URL is not set');
  }
  return ['sqlite'];
}

export function postgresUrl(): string {
  if (!pgUrl) throw new Error('CLARION_TEST_DATABASE_URL is not set');
  return pgUrl;
}

/** Creates a fresh schema for one test server; returns it and a function that drops it. */
export async function createPgSchema(): Promise<{ schema: string; drop: () => Promise<void> }> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: postgresUrl() });
  await client.connect();
  try {
    await client.query(`create schema ${schema}`);
  } finally {
    await client.end();
  }
  return {
    schema,
    drop: async () => {
      const c = new pg.Client({ connectionString: postgresUrl() });
      await c.connect();
      try {
        await c.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await c.end();
      }
    },
  };
}
