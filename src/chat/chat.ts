import { Type, type Static } from 'typebox';
import { Nullable, PageQuery, StrictObject, Timestamp } from '../http/schemas.js';

export interface Citation {
  /** The number the answer cites it by: [1], [2], ... */
  n: number;
  collection_id: string;
  document_id: string;
  source_id: string | null;
  score: number;
  snippet: string;
}

export const CitationSchema = Type.Object({
  n: Type.Integer(),
  collection_id: Type.String(),
  document_id: Type.String(),
  source_id: Nullable(Type.String()),
  score: Type.Number(),
  snippet: Type.String(),
});

export type MessageStatus = 'complete' | 'streaming' | 'stopped' | 'failed';

export interface ChatMessageView {
  id: string;
  seq: number;
  role: 'user' | 'assistant';
  content: string;
  parts: Array<Record<string, unknown>> | null;
  status: MessageStatus;
  citations: Citation[];
  model: string | null;
  usage: Record<string, number> | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

export const MessageSchema = Type.Object({
  id: Type.String(),
  seq: Type.Integer(),
  role: Type.String(),
  content: Type.String(),
  parts: Nullable(Type.Array(Type.Record(Type.String(), Type.Unknown()))),
  status: Type.String({ description: 'complete | streaming | stopped | failed' }),
  citations: Type.Array(CitationSchema),
  model: Nullable(Type.String()),
  usage: Nullable(Type.Record(Type.String(), Type.Number())),
  error: Nullable(Type.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export interface Conversation {
  id: string;
  title: string | null;
  agent_id: string | null;
  model: string | null;
  summary: string | null;
  created_at: string;
  updated_at: string;
}

export const ConversationSchema = Type.Object({
  id: Type.String(),
  title: Nullable(Type.String()),
  agent_id: Nullable(Type.String()),
  model: Nullable(Type.String()),
  summary: Nullable(Type.String({ description: 'summary of the messages that no longer fit the model window' })),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const ConversationWithMessages = Type.Object({
  ...ConversationSchema.properties,
  messages: Type.Array(MessageSchema),
});

export const CreateConversationBody = StrictObject({
  title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  agent: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'agent id or name' })),
  model: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'model when no agent is given' })),
});
export type CreateConversationInput = Static<typeof CreateConversationBody>;

export const UpdateConversationBody = StrictObject({ title: Type.String({ minLength: 1, maxLength: 200 }) });

export const ConversationListQuery = StrictObject({ ...PageQuery });

export const SendMessageBody = StrictObject({
  /**
   * A string, or OpenAI content parts: `{type:'text', text}` and `{type:'image_url', image_url:{url, detail?}}`.
   * Checked by the chat service (a union here would let the server's type coercion rewrite the parts).
   */
  content: Type.Unknown({ description: 'text, or an array of text and image_url parts' }),
  /** Default true: answer as server-sent events. */
  stream: Type.Optional(Type.Boolean()),
});
export type SendMessageInput = Static<typeof SendMessageBody>;

export type ContentPart =
  { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } };

export const RegenerateBody = StrictObject({ stream: Type.Optional(Type.Boolean()) });

/** What a generation emits, in order: the stored user message, citations, text deltas, then the answer. */
export type ChatEvent =
  | { type: 'message'; message: ChatMessageView }
  | { type: 'citations'; citations: Citation[] }
  | { type: 'delta'; text: string }
  | { type: 'title'; title: string }
  | { type: 'done'; message: ChatMessageView }
  | { type: 'error'; code: string; message: string };
