import { randomUUID } from 'node:crypto';
import type { Db } from '../db/database.js';
import { fromJson, toJson } from '../db/json.js';
import { nowIso } from '../db/time.js';
import { AppError, invalid } from '../errors/index.js';
import { decodeCursor, toPage } from '../http/pagination.js';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, LlmCallContext } from '../llm/llm.js';
import { countTokens } from '../llm/tokens.js';
import type { MemoryService } from '../memory/memory.service.js';
import type {
  ChatEvent,
  ChatMessageView,
  Citation,
  ContentPart,
  Conversation,
  CreateConversationInput,
  MessageStatus,
  SendMessageInput,
} from './chat.js';
import type { ChatRepository, ConversationRow, MessageRow } from './chat.repository.js';
import { acceptsImages } from './vision.js';

/** The slice of the LLM service chat needs. */
export interface ChatLlm {
  chat(req: ChatRequest, ctx: LlmCallContext): Promise<ChatCompletion>;
  chatStream(req: ChatRequest, ctx: LlmCallContext): AsyncIterable<ChatCompletionChunk>;
  /** The model's (or alias's) context window in tokens, with `llm_prices` and API overrides applied. */
  contextWindow(model: string): number;
}

export interface ChatAgent {
  id: string;
  model: string;
  system_prompt?: string | null | undefined;
  temperature?: number | null | undefined;
  max_tokens?: number | null | undefined;
  memory_collections?: string[] | undefined;
}

export interface ChatDeps {
  db: Db;
  repo: ChatRepository;
  llm: ChatLlm;
  agents: { getForRun(userId: string, ref: string): Promise<ChatAgent> };
  memory: Pick<MemoryService, 'queryMany'>;
  /** Where live events go besides the HTTP stream (the WebSocket hub reads `user:<id>`). */
  publish?: (channel: string, event: Record<string, unknown>) => Promise<void>;
  memoryTopK?: number;
}

export interface Caller {
  userId: string;
  apiKeyId?: string | undefined;
}

/** Tokens each message costs beyond its text (role, separators), as OpenAI counts them. */
const PER_MESSAGE = 4;
const SNIPPET_CHARS = 1500;

/**
 * Conversations with an agent or a model: each question is answered as a stream, with the agent's memory
 * searched first and cited, history that no longer fits the model's window summarised (never dropped
 * silently), one generation at a time per conversation, and a stop that aborts the upstream call.
 */
export class ChatService {
  private readonly active = new Map<string, AbortController>();

  constructor(private readonly d: ChatDeps) {}

  async create(userId: string, input: CreateConversationInput): Promise<Conversation> {
    let agentId: string | null = null;
    if (input.agent) agentId = (await this.d.agents.getForRun(userId, input.agent)).id;
    else if (!input.model) throw invalid('model', 'give an agent or a model');
    const now = nowIso();
    const row: ConversationRow = {
      id: randomUUID(),
      owner_id: userId,
      title: input.title ?? null,
      agent_id: agentId,
      model: input.model ?? null,
      summary: null,
      summarized_through: 0,
      created_at: now,
      updated_at: now,
    };
    await this.d.repo.insertConversation(this.d.db, row);
    return toConversation(row);
  }

  async list(userId: string, opts: { limit: number; cursor?: string | undefined }) {
    const after = decodeCursor(opts.cursor);
    const rows = await this.d.repo.list(
      this.d.db,
      userId,
      after ? { k: String(after.k), id: after.id } : undefined,
      opts.limit + 1,
    );
    const page = toPage(rows, opts.limit, (r) => ({ k: r.updated_at, id: r.id }));
    return { items: page.items.map(toConversation), next_cursor: page.next_cursor };
  }

  async get(userId: string, id: string): Promise<Conversation & { messages: ChatMessageView[] }> {
    const row = await this.row(userId, id);
    const messages = await this.d.repo.messages(this.d.db, userId, id);
    return { ...toConversation(row), messages: messages.map(toMessage) };
  }

  async rename(userId: string, id: string, title: string): Promise<Conversation> {
    await this.row(userId, id);
    await this.d.repo.update(this.d.db, userId, id, { title, updated_at: nowIso() });
    return toConversation(await this.row(userId, id));
  }

  async remove(userId: string, id: string): Promise<void> {
    await this.row(userId, id);
    this.active.get(id)?.abort();
    await this.d.db.transaction().execute((trx) => this.d.repo.delete(trx, userId, id));
  }

  /** Aborts the answer being generated; its text so far is kept and marked `stopped`. */
  async stop(userId: string, id: string): Promise<{ stopped: boolean }> {
    await this.row(userId, id);
    const ctl = this.active.get(id);
    if (!ctl) return { stopped: false };
    ctl.abort();
    return { stopped: true };
  }

  /** Stores the question, then streams the answer. */
  async *send(caller: Caller, id: string, input: SendMessageInput): AsyncGenerator<ChatEvent> {
    const conv = await this.row(caller.userId, id);
    const ctl = this.claim(id);
    try {
      const { text, parts } = splitContent(input.content);
      const now = nowIso();
      const row: MessageRow = {
        id: randomUUID(),
        conversation_id: id,
        owner_id: caller.userId,
        seq: await this.d.repo.nextSeq(this.d.db, id),
        role: 'user',
        content: text,
        parts: parts ? toJson(parts) : null,
        status: 'complete',
        citations: '[]',
        model: null,
        usage: null,
        error: null,
        created_at: now,
        updated_at: now,
      };
      await this.d.repo.insertMessage(this.d.db, row);
      yield* this.emit(caller, id, { type: 'message', message: toMessage(row) });
      yield* this.answer(caller, conv, row, ctl);
    } finally {
      this.active.delete(id);
    }
  }

  /** Drops the last answer and answers the last question again. */
  async *regenerate(caller: Caller, id: string): AsyncGenerator<ChatEvent> {
    const conv = await this.row(caller.userId, id);
    const ctl = this.claim(id);
    try {
      const messages = await this.d.repo.messages(this.d.db, caller.userId, id);
      const last = messages[messages.length - 1];
      if (last?.role === 'assistant') await this.d.repo.deleteMessage(this.d.db, caller.userId, last.id);
      const question = [...messages].reverse().find((m) => m.role === 'user');
      if (!question) throw new AppError('CHAT_NOTHING_TO_REGENERATE');
      yield* this.answer(caller, conv, question, ctl);
    } finally {
      this.active.delete(id);
    }
  }

  private claim(id: string): AbortController {
    if (this.active.has(id)) throw new AppError('CHAT_BUSY');
    const ctl = new AbortController();
    this.active.set(id, ctl);
    return ctl;
  }

  private async *answer(
    caller: Caller,
    conv: ConversationRow,
    question: MessageRow,
    ctl: AbortController,
  ): AsyncGenerator<ChatEvent> {
    const agent = conv.agent_id ? await this.d.agents.getForRun(caller.userId, conv.agent_id) : undefined;
    const model = agent?.model ?? conv.model!;
    const ctx: LlmCallContext = {
      userId: caller.userId,
      ...(caller.apiKeyId ? { apiKeyId: caller.apiKeyId } : {}),
      ...(agent ? { agentId: agent.id } : {}),
      signal: ctl.signal,
    };

    const citations = await this.searchMemory(caller, agent, question.content);
    if (citations.length > 0) yield* this.emit(caller, conv.id, { type: 'citations', citations });

    const now = nowIso();
    const reply: MessageRow = {
      id: randomUUID(),
      conversation_id: conv.id,
      owner_id: caller.userId,
      seq: await this.d.repo.nextSeq(this.d.db, conv.id),
      role: 'assistant',
      content: '',
      parts: null,
      status: 'streaming',
      citations: toJson(citations),
      model,
      usage: null,
      error: null,
      created_at: now,
      updated_at: now,
    };
    await this.d.repo.insertMessage(this.d.db, reply);

    let content = '';
    let status: MessageStatus = 'complete';
    let usage: Record<string, number> | null = null;
    let error: { code: string; message: string } | undefined;
    try {
      const messages = await this.context(caller, conv, agent, model, question, citations, ctx);
      const req: ChatRequest = {
        model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
        cache: false,
        ...(agent?.temperature != null ? { temperature: agent.temperature } : {}),
        ...(agent?.max_tokens != null ? { max_tokens: agent.max_tokens } : {}),
      };
      for await (const chunk of this.d.llm.chatStream(req, ctx)) {
        const text = chunk.choices[0]?.delta?.content;
        if (typeof text === 'string' && text.length > 0) {
          content += text;
          yield* this.emit(caller, conv.id, { type: 'delta', text });
        }
        if (chunk.usage) usage = pickUsage(chunk.usage);
        if (ctl.signal.aborted) break;
      }
      if (ctl.signal.aborted) status = 'stopped';
    } catch (err) {
      if (ctl.signal.aborted) status = 'stopped';
      else {
        status = 'failed';
        error =
          err instanceof AppError
            ? { code: err.code, message: err.message }
            : { code: 'INTERNAL', message: 'The answer could not be generated.' };
      }
    }
    const done: MessageRow = {
      ...reply,
      content,
      status,
      usage: usage ? toJson(usage) : null,
      error: error ? `${error.code}: ${error.message}` : null,
      updated_at: nowIso(),
    };
    await this.d.repo.updateMessage(this.d.db, caller.userId, reply.id, {
      content: done.content,
      status: done.status,
      usage: done.usage,
      error: done.error,
      updated_at: done.updated_at,
    });
    await this.d.repo.update(this.d.db, caller.userId, conv.id, { updated_at: done.updated_at });
    if (error) yield* this.emit(caller, conv.id, { type: 'error', ...error });
    if (status === 'complete' && conv.title === null) {
      const title = await this.title(model, question.content, content, { ...ctx, signal: AbortSignal.timeout(30_000) });
      await this.d.repo.update(this.d.db, caller.userId, conv.id, { title });
      conv.title = title;
      yield* this.emit(caller, conv.id, { type: 'title', title });
    }
    yield* this.emit(caller, conv.id, { type: 'done', message: toMessage(done) });
  }

  private async *emit(caller: Caller, conversationId: string, event: ChatEvent): AsyncGenerator<ChatEvent> {
    if (this.d.publish) {
      // `_user` is how the WebSocket hub checks that an event belongs to the subscriber.
      const out = { ...event, type: `chat.${event.type}`, conversation_id: conversationId, _user: caller.userId };
      await this.d.publish(`user:${caller.userId}`, out).catch(() => {});
    }
    yield event;
  }

  private async searchMemory(caller: Caller, agent: ChatAgent | undefined, question: string): Promise<Citation[]> {
    const refs = agent?.memory_collections ?? [];
    if (refs.length === 0 || question.trim() === '') return [];
    const hits = await this.d.memory.queryMany({ userId: caller.userId }, refs, {
      query: question.slice(0, 20_000),
      mode: 'hybrid',
      top_k: this.d.memoryTopK ?? 5,
    });
    return hits.map((h, i) => ({
      n: i + 1,
      collection_id: h.collection_id ?? '',
      document_id: h.id,
      source_id: h.source_id,
      score: h.score,
      snippet: h.content.slice(0, SNIPPET_CHARS),
    }));
  }

  /**
   * The messages sent to the model: system prompt with memory excerpts, a summary of what no longer fits,
   * the recent history and the question. When the history outgrows the window, the oldest part is folded
   * into the stored summary (through the model) instead of being cut.
   */
  private async context(
    caller: Caller,
    conv: ConversationRow,
    agent: ChatAgent | undefined,
    model: string,
    question: MessageRow,
    citations: Citation[],
    ctx: LlmCallContext,
  ): Promise<ChatMessage[]> {
    const window = this.d.llm.contextWindow(model);
    const reserve = Math.min(agent?.max_tokens ?? 1024, Math.floor(window / 4));
    const system = systemPrompt(agent?.system_prompt ?? '', citations);
    const current = toChatMessage(question, model);
    const fixed = tokensOf(system) + tokensOfMessage(current) + PER_MESSAGE * 2;
    const budget = window - reserve - fixed;
    if (budget <= 0) throw new AppError('CHAT_CONTEXT_TOO_LARGE');

    const all = await this.d.repo.messages(this.d.db, caller.userId, conv.id);
    const history = all.filter(
      (m) => m.seq > conv.summarized_through && m.seq < question.seq && (m.role === 'user' || m.content.length > 0),
    );
    let summary = conv.summary;
    const cost = (ms: MessageRow[]) =>
      ms.reduce((n, m) => n + tokensOfMessage(toChatMessage(m, model)) + PER_MESSAGE, 0);
    const summaryCost = () => (summary ? tokensOf(summary) + 32 : 0);
    if (cost(history) + summaryCost() > budget) {
      // Keep the newest messages that fit in half the budget; fold everything older into the summary.
      let keepFrom = history.length;
      let kept = 0;
      while (keepFrom > 0) {
        const c = cost([history[keepFrom - 1]!]);
        if (kept + c > budget / 2) break;
        kept += c;
        keepFrom--;
      }
      const old = history.slice(0, keepFrom);
      summary = await this.summarise(model, summary, old, window, ctx);
      const through = old[old.length - 1]!.seq;
      await this.d.repo.update(this.d.db, caller.userId, conv.id, { summary, summarized_through: through });
      conv.summary = summary;
      conv.summarized_through = through;
      history.splice(0, keepFrom);
      if (summaryCost() + kept > budget) throw new AppError('CHAT_CONTEXT_TOO_LARGE');
    }
    const messages: ChatMessage[] = [];
    const sys = summary ? `${system}\n\nSummary of the earlier conversation:\n${summary}` : system;
    if (sys.trim()) messages.push({ role: 'system', content: sys });
    for (const m of history) messages.push(toChatMessage(m, model));
    messages.push(current);
    return messages;
  }

  /** Folds messages into the running summary, in slices that fit the window. */
  private async summarise(
    model: string,
    previous: string | null,
    messages: MessageRow[],
    window: number,
    ctx: LlmCallContext,
  ): Promise<string> {
    const slice = Math.max(256, Math.floor(window / 2) - 512);
    let summary = previous ?? '';
    let batch: string[] = [];
    let size = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const res = await this.d.llm.chat(
        {
          model,
          cache: false,
          max_tokens: 600,
          messages: [
            {
              role: 'system',
              content:
                'Summarise the conversation below for your own later use, in under 300 words. Keep facts, names, numbers, decisions and open questions. Reply with the summary only.',
            },
            {
              role: 'user',
              content: `${summary ? `Summary so far:\n${summary}\n\n` : ''}Conversation:\n${batch.join('\n')}`,
            },
          ],
        },
        ctx,
      );
      const text = res.choices[0]?.message.content?.trim();
      if (!text) throw new AppError('CHAT_SUMMARY_FAILED');
      summary = text;
      batch = [];
      size = 0;
    };
    for (const m of messages) {
      let line = `${m.role}: ${m.content}`;
      let t = tokensOf(line);
      if (t > slice) {
        // One message larger than a slice: its start and end go in, with the cut marked.
        const keep = Math.floor((slice * 3) / 2);
        line = `${line.slice(0, keep)}\n[... ${t - slice} tokens of this message not shown ...]\n${line.slice(-keep)}`;
        t = tokensOf(line);
      }
      if (size + t > slice) await flush();
      batch.push(line);
      size += t;
    }
    await flush();
    return summary;
  }

  private async title(model: string, question: string, answer: string, ctx: LlmCallContext): Promise<string> {
    const fallback = question.replace(/\s+/g, ' ').trim().slice(0, 60) || 'New conversation';
    try {
      const res = await this.d.llm.chat(
        {
          model,
          cache: false,
          max_tokens: 24,
          messages: [
            {
              role: 'system',
              content: 'Give this conversation a short title of at most six words. Reply with the title only.',
            },
            { role: 'user', content: `${question.slice(0, 2000)}\n\n${answer.slice(0, 2000)}` },
          ],
        },
        ctx,
      );
      const line = (res.choices[0]?.message.content ?? '')
        .split('\n')[0]!
        .replace(/^["'\s#*]+|["'\s*.]+$/g, '')
        .trim();
      return line ? line.slice(0, 100) : fallback;
    } catch {
      return fallback;
    }
  }

  private async row(userId: string, id: string): Promise<ConversationRow> {
    const row = await this.d.repo.find(this.d.db, userId, id);
    if (!row) throw new AppError('CONVERSATION_NOT_FOUND');
    return row;
  }
}

function systemPrompt(base: string, citations: Citation[]): string {
  if (citations.length === 0) return base;
  const excerpts = citations.map((c) => `[${c.n}] (${c.source_id ?? c.document_id}) ${c.snippet}`).join('\n\n');
  return `${base}${base ? '\n\n' : ''}Memory excerpts that may help. When you use one, cite it as [n].\n\n${excerpts}`;
}

const MAX_TEXT = 200_000;
const MAX_IMAGE_URL = 20_000_000;

/** Checks message content (a string or OpenAI parts) and returns its text and, when it has images, its parts. */
function splitContent(content: unknown): { text: string; parts: ContentPart[] | null } {
  if (typeof content === 'string') {
    if (content.length === 0 || content.length > MAX_TEXT)
      throw invalid('/content', `must be 1 to ${MAX_TEXT} characters`);
    return { text: content, parts: null };
  }
  if (!Array.isArray(content) || content.length === 0 || content.length > 20) {
    throw invalid('/content', 'must be a string or an array of 1 to 20 content parts');
  }
  const parts: ContentPart[] = content.map((p: unknown, i) => {
    const at = `/content/${i}`;
    const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
    if (o.type === 'text') {
      if (Object.keys(o).some((k) => k !== 'type' && k !== 'text'))
        throw invalid(at, 'a text part has only type and text');
      if (typeof o.text !== 'string' || o.text.length > MAX_TEXT) throw invalid(`${at}/text`, 'must be a string');
      return { type: 'text', text: o.text };
    }
    if (o.type === 'image_url') {
      if (Object.keys(o).some((k) => k !== 'type' && k !== 'image_url'))
        throw invalid(at, 'an image part has only type and image_url');
      const img = (typeof o.image_url === 'object' && o.image_url !== null ? o.image_url : {}) as Record<
        string,
        unknown
      >;
      const url = img.url;
      if (
        typeof url !== 'string' ||
        url.length > MAX_IMAGE_URL ||
        !/^(https:\/\/|data:image\/(png|jpeg|gif|webp);base64,)/i.test(url)
      ) {
        throw invalid(`${at}/image_url/url`, 'must be an https URL or a data:image/(png|jpeg|gif|webp);base64 URL');
      }
      const detail = img.detail;
      if (detail !== undefined && detail !== 'auto' && detail !== 'low' && detail !== 'high') {
        throw invalid(`${at}/image_url/detail`, 'must be auto, low or high');
      }
      return { type: 'image_url', image_url: { url, ...(detail ? { detail } : {}) } };
    }
    throw invalid(`${at}/type`, 'must be text or image_url');
  });
  const text = parts
    .filter((p): p is { type: 'text'; text: string } => p.type === 'text')
    .map((p) => p.text)
    .join('\n');
  return { text, parts: parts.some((p) => p.type === 'image_url') ? parts : null };
}

/** A stored message as the model sees it: images only for models that accept them, otherwise a note. */
function toChatMessage(m: MessageRow, model: string): ChatMessage {
  const role = m.role === 'assistant' ? 'assistant' : 'user';
  const parts = fromJson<Array<Record<string, unknown>> | null>(m.parts, null);
  if (!parts) return { role, content: m.content };
  if (acceptsImages(model)) return { role, content: parts };
  const n = parts.filter((p) => p.type === 'image_url').length;
  return { role, content: `${m.content}\n[${n} image(s) not shown: the model ${model} does not accept images]` };
}

const tokensOf = (text: string): number => countTokens(text);

function tokensOfMessage(m: ChatMessage): number {
  if (typeof m.content === 'string') return tokensOf(m.content);
  if (!Array.isArray(m.content)) return 0;
  // Images are priced by providers per tile; 800 tokens is a fair upper bound for a detail=auto image.
  return m.content.reduce((n, p) => n + (p.type === 'text' ? tokensOf(String(p.text ?? '')) : 800), 0);
}

function pickUsage(u: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) if (typeof u[k] === 'number') out[k] = u[k];
  return out;
}

function toConversation(r: ConversationRow): Conversation {
  return {
    id: r.id,
    title: r.title,
    agent_id: r.agent_id,
    model: r.model,
    summary: r.summary,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

function toMessage(r: MessageRow): ChatMessageView {
  return {
    id: r.id,
    seq: Number(r.seq),
    role: r.role === 'assistant' ? 'assistant' : 'user',
    content: r.content,
    parts: fromJson<Array<Record<string, unknown>> | null>(r.parts, null),
    status: r.status as MessageStatus,
    citations: fromJson<Citation[]>(r.citations, []),
    model: r.model,
    usage: fromJson<Record<string, number> | null>(r.usage, null),
    error: r.error,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}
