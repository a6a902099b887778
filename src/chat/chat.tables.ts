/** Row shapes of chat. JSON is text; times ISO-8601 text. */
export interface ConversationsTable {
  id: string;
  owner_id: string;
  title: string | null;
  agent_id: string | null;
  /** The model when no agent is set (an agent brings its own). */
  model: string | null;
  /** A running summary of the messages that no longer fit the model's window. */
  summary: string | null;
  /** The last message seq the summary covers (0 when none). */
  summarized_through: number;
  created_at: string;
  updated_at: string;
}

export interface ChatMessagesTable {
  id: string;
  conversation_id: string;
  owner_id: string;
  /** Order within the conversation. */
  seq: number;
  role: string;
  content: string;
  /** OpenAI content parts (text and image_url) when the message has images. */
  parts: string | null;
  /** `complete` | `streaming` | `stopped` | `failed`. */
  status: string;
  /** The memory documents the answer was given (JSON array). */
  citations: string;
  model: string | null;
  usage: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

export interface ChatTables {
  conversations: ConversationsTable;
  chat_messages: ChatMessagesTable;
}
