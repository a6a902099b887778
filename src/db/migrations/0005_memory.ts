import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../migration.js';

export const name = '0005_memory';

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const pg = ctx.dialect === 'postgres';
  await db.schema
    .createTable('memory_collections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('embedder', 'text', (c) => c.notNull())
    .addColumn('model', 'text')
    .addColumn('dimensions', 'integer')
    .addColumn('chunk_size', 'integer', (c) => c.notNull())
    .addColumn('chunk_overlap', 'integer', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('memory_collections_owner_name_uq', ['owner_id', 'name'])
    .execute();

  await db.schema
    .createTable('memory_documents')
    .addColumn('seq', pg ? 'bigserial' : 'integer', (c) => c.primaryKey())
    .addColumn('collection_id', 'text', (c) => c.notNull().references('memory_collections.id').onDelete('cascade'))
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('doc_id', 'text', (c) => c.notNull())
    .addColumn('source_id', 'text')
    .addColumn('chunk_index', 'integer')
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('embedding', pg ? 'bytea' : 'blob')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('memory_documents_collection_doc_uq', ['collection_id', 'doc_id'])
    .execute();
  // Owner last: lookups by collection and source use it fully, and no (owner, collection) index exists for the
  // planner to prefer over the (collection, doc_id) and (collection, source_id) ones.
  await db.schema
    .createIndex('memory_documents_source_idx')
    .on('memory_documents')
    .columns(['collection_id', 'source_id', 'owner_id'])
    .execute();

  if (pg) {
    await sql`create index memory_documents_fts_idx on memory_documents using gin (to_tsvector('english', content))`.execute(
      db,
    );
    return;
  }
  // An external-content FTS5 index over memory_documents, kept in step by triggers (also on cascade deletes).
  await sql`create virtual table memory_fts using fts5(content, content='memory_documents', content_rowid='seq', tokenize='porter unicode61')`.execute(
    db,
  );
  await sql`create trigger memory_documents_ai after insert on memory_documents begin
    insert into memory_fts(rowid, content) values (new.seq, new.content);
  end`.execute(db);
  await sql`create trigger memory_documents_ad after delete on memory_documents begin
    insert into memory_fts(memory_fts, rowid, content) values ('delete', old.seq, old.content);
  end`.execute(db);
  await sql`create trigger memory_documents_au after update of content on memory_documents begin
    insert into memory_fts(memory_fts, rowid, content) values ('delete', old.seq, old.content);
    insert into memory_fts(rowid, content) values (new.seq, new.content);
  end`.execute(db);
}
