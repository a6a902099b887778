import type { Selectable, Updateable } from 'kysely';
import type { DbOrTrx } from '../db/database.js';
import type { ChatMessagesTable, ConversationsTable } from './chat.tables.js';

export type ConversationRow = Selectable<ConversationsTable>;
export type MessageRow = Selectable<ChatMessagesTable>;

/** All SQL of chat; every query names the owner. */
export class ChatRepository {
  async insertConversation(db: DbOrTrx, row: ConversationsTable): Promise<void> {
    await db.insertInto('conversations').values(row).execute();
  }

  find(db: DbOrTrx, ownerId: string, id: string): Promise<ConversationRow | undefined> {
    return db
      .selectFrom('conversations')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  list(db: DbOrTrx, ownerId: string, after: { k: string; id: string } | undefined, limit: number) {
    let q = db.selectFrom('conversations').selectAll().where('owner_id', '=', ownerId);
    if (after) {
      q = q.where((eb) =>
        eb.or([eb('updated_at', '<', after.k), eb.and([eb('updated_at', '=', after.k), eb('id', '<', after.id)])]),
      );
    }
    return q.orderBy('updated_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  async update(db: DbOrTrx, ownerId: string, id: string, patch: Updateable<ConversationsTable>): Promise<void> {
    await db.updateTable('conversations').set(patch).where('owner_id', '=', ownerId).where('id', '=', id).execute();
  }

  async delete(db: DbOrTrx, ownerId: string, id: string): Promise<boolean> {
    await db.deleteFrom('chat_messages').where('owner_id', '=', ownerId).where('conversation_id', '=', id).execute();
    const r = await db
      .deleteFrom('conversations')
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  messages(db: DbOrTrx, ownerId: string, conversationId: string): Promise<MessageRow[]> {
    return db
      .selectFrom('chat_messages')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('conversation_id', '=', conversationId)
      .orderBy('seq')
      .execute();
  }

  async nextSeq(db: DbOrTrx, conversationId: string): Promise<number> {
    const r = await db
      .selectFrom('chat_messages')
      .select((eb) => eb.fn.max('seq').as('m'))
      .where('conversation_id', '=', conversationId)
      .executeTakeFirst();
    return Number(r?.m ?? 0) + 1;
  }

  async insertMessage(db: DbOrTrx, row: ChatMessagesTable): Promise<void> {
    await db.insertInto('chat_messages').values(row).execute();
  }

  async updateMessage(db: DbOrTrx, ownerId: string, id: string, patch: Updateable<ChatMessagesTable>): Promise<void> {
    await db.updateTable('chat_messages').set(patch).where('owner_id', '=', ownerId).where('id', '=', id).execute();
  }

  async deleteMessage(db: DbOrTrx, ownerId: string, id: string): Promise<void> {
    await db.deleteFrom('chat_messages').where('owner_id', '=', ownerId).where('id', '=', id).execute();
  }
}
