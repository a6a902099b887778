import { invalid } from '../errors/index.js';
import { deriveIdempotencyKey } from './idempotency-key.js';
import type { ChatCompletion, ChatRequest, LlmCallContext } from './llm.js';
import { countTokens, decodeTokens, encodeTokens } from './tokens.js';
import type { CancelSignal } from './call-cancel.js';

/**
 * Splits text into pieces of at most `maxTokens` tokens, consecutive pieces sharing `overlap` tokens.
 * Cuts prefer a paragraph, then a line, then a sentence boundary in the last fifth of a piece, so
 * chunks read naturally; a piece with no boundary is cut at the token limit.
 */
export function chunkByTokens(text: string, opts: { maxTokens: number; overlap?: number; model?: string }): string[] {
  const { maxTokens } = opts;
  const overlap = opts.overlap ?? 0;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw invalid('maxTokens', 'must be a positive integer');
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= maxTokens) {
    throw invalid('overlap', 'must be a non-negative integer below maxTokens');
  }
  if (!text) return [];
  const tokens = encodeTokens(text);
  if (tokens.length <= maxTokens) return [text];
  const out: string[] = [];
  let start = 0;
  while (start < tokens.length) {
    let end = Math.min(start + maxTokens, tokens.length);
    let piece = decodeTokens(tokens.slice(start, end));
    if (end < tokens.length) {
      const cut = boundary(piece);
      if (cut > 0) {
        const kept = piece.slice(0, cut);
        const keptTokens = encodeTokens(kept).length;
        // Only cut where the original tokens split the same way, so chunks still cover the text exactly.
        if (keptTokens > overlap && decodeTokens(tokens.slice(start, start + keptTokens)) === kept) {
          piece = kept;
          end = start + keptTokens;
        }
      }
    }
    out.push(piece);
    if (end >= tokens.length) break;
    start = Math.max(end - overlap, start + 1);
  }
  return out;
}

function boundary(piece: string): number {
  const floor = Math.floor(piece.length * 0.8);
  for (const sep of ['\n\n', '\n', '. ', '? ', '! ']) {
    const i = piece.lastIndexOf(sep);
    if (i >= floor) return i + sep.length;
  }
  return -1;
}

/** The chat function map-reduce calls: LlmService.chat or anything with its shape. */
export type ChatFn = (req: ChatRequest, ctx: LlmCallContext) => Promise<ChatCompletion>;

export interface MapReduceOptions {
  model: string;
  /** The question or instruction answered over the whole input. */
  instruction: string;
  /** The input, possibly far larger than the model's window. */
  input: string;
  /** Tokens kept free for the answer and the prompt framing (default 1024). */
  reserve?: number;
  /**
   * The model's window in tokens: `LlmService.contextWindow(model)`, so a window set in `llm_prices` or over the
   * API applies (required: a lookup here could only see the built-in table).
   */
  window: number;
  /** Parallel map calls (default 4). */
  concurrency?: number;
  /** Tokens of overlap between chunks (default 100). */
  overlap?: number;
  signal?: CancelSignal;
}

const answerOf = (c: ChatCompletion): string => c.choices[0]?.message.content ?? '';

/**
 * Answers `instruction` over an input larger than the model's window: the input is chunked to fit, each
 * chunk is answered (map), then the partial answers are combined (reduce) — recursively, when the
 * partial answers themselves do not fit. An input that fits is answered in one call.
 */
export async function mapReduce(chat: ChatFn, ctx: LlmCallContext, o: MapReduceOptions, depth = 0): Promise<string> {
  const { window } = o;
  const reserve = o.reserve ?? 1024;
  const budget = window - reserve - countTokens(o.instruction) - 64;
  if (budget < 64) throw invalid('window', `the model window (${window}) leaves no room for input`);
  // Several requests make one answer: each but a lone one gets an idempotency key of its own, named by `part`.
  const ask = async (content: string, part?: string): Promise<string> => {
    const c = { ...ctx, ...(o.signal ? { signal: o.signal } : {}) };
    return answerOf(
      await chat(
        {
          model: o.model,
          messages: [
            { role: 'system', content: o.instruction },
            { role: 'user', content },
          ],
        },
        part === undefined ? c : deriveIdempotencyKey(c, part),
      ),
    );
  };

  if (countTokens(o.input) <= budget) return ask(o.input, depth === 0 ? undefined : `whole${depth}`);

  const chunks = chunkByTokens(o.input, { maxTokens: budget, overlap: Math.min(o.overlap ?? 100, budget - 1) });
  const partials = await pool(chunks, o.concurrency ?? 4, (chunk, i) =>
    ask(
      `Part ${i + 1} of ${chunks.length} of a longer input. Answer from this part only; say so if it holds nothing relevant.\n\n${chunk}`,
      `map${depth}.${i}`,
    ),
  );
  const combined = partials.map((p, i) => `Answer from part ${i + 1}:\n${p}`).join('\n\n');
  if (countTokens(combined) <= budget) {
    return ask(`Combine these partial answers into one final answer.\n\n${combined}`, `reduce${depth}`);
  }
  // The partial answers are themselves too long: reduce them the same way, a bounded number of times
  // (answers that never get shorter would otherwise recurse forever).
  if (depth >= 3) throw invalid('input', 'the partial answers do not shrink enough to combine within the window');
  return mapReduce(chat, ctx, { ...o, input: combined }, depth + 1);
}

async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
