import { tokenizer } from './tokenizer.js';
import type { ChatMessage, ChatRequest } from './llm.js';

/**
 * Token counts with OpenAI's o200k tokenizer. For other model families it is an estimate, close
 * enough for budgets and chunking; recorded usage prefers the provider's own counts.
 */
export function countTokens(text: string, _model?: string): number {
  if (!text) return 0;
  return tokenizer().countTokens(text);
}

export function encodeTokens(text: string): number[] {
  return tokenizer().encode(text);
}

export function decodeTokens(tokens: number[]): string {
  return tokenizer().decode(tokens);
}

/**
 * Tokens a text is held to cost while its call is in flight, without the tokenizer (whose tables take 1–2 s and
 * ~65 MB to load on first use, a stall of every request in the process): its UTF-8 length over three. That is
 * above the real count for English prose and code (~4 bytes a token) and about equal for CJK text (3 bytes a
 * character, ~1 token each). A reservation is replaced by the call's recorded usage when it ends.
 */
export function estimateTokens(text: string): number {
  return text ? Math.ceil(Buffer.byteLength(text) / 3) : 0;
}

/** Prompt tokens a chat request is held to cost while in flight (see estimateTokens), framing included. */
export function estimatePromptTokens(req: Pick<ChatRequest, 'messages' | 'tools'>): number {
  let n = 3;
  for (const m of req.messages) n += 4 + estimateTokens(messageText(m));
  if (req.tools?.length) n += estimateTokens(JSON.stringify(req.tools));
  return n;
}

function messageText(m: ChatMessage): string {
  let text = '';
  if (typeof m.content === 'string') text = m.content;
  else if (Array.isArray(m.content)) text = m.content.map((p) => (typeof p.text === 'string' ? p.text : '')).join('');
  for (const tc of m.tool_calls ?? []) text += tc.function.name + tc.function.arguments;
  return text;
}

/** Prompt tokens of a chat request: message text plus a few tokens of framing per message. */
export function countPromptTokens(req: Pick<ChatRequest, 'messages' | 'tools' | 'model'>): number {
  let n = 3;
  for (const m of req.messages) n += 4 + countTokens(messageText(m), req.model);
  if (req.tools?.length) n += countTokens(JSON.stringify(req.tools), req.model);
  return n;
}
