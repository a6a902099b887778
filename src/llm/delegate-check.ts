import { evaluate, parse } from '@marcbachmann/cel-js';
import { invalid } from '../errors/index.js';
import type { ChatCompletion, DelegateCheck } from './llm.js';

/**
 * Whether a cheaper model's answer is good enough to keep. CEL expressions (never JavaScript) see
 * `text` (the answer), `json` (its parse, or null), `tool_calls` and `finish_reason`.
 */
export function passesCheck(check: DelegateCheck | undefined, answer: ChatCompletion): boolean {
  const msg = answer.choices[0]?.message;
  const text = msg?.content ?? '';
  const toolCalls = msg?.tool_calls ?? [];
  const c = check ?? 'non_empty';
  if (c === 'non_empty') return text.trim().length > 0 || toolCalls.length > 0;
  if (c === 'json') return parseJson(text) !== undefined;
  if ('contains' in c) return text.includes(c.contains);
  try {
    const json = parseJson(text);
    const result: unknown = evaluate(c.cel, {
      text,
      json: json === undefined ? null : json,
      tool_calls: toolCalls.map((t) => ({ name: t.function.name, arguments: t.function.arguments })),
      finish_reason: answer.choices[0]?.finish_reason ?? '',
    });
    return result === true;
  } catch {
    // An expression that errors on this answer (e.g. a missing field) is a failed check.
    return false;
  }
}

/** Rejects a CEL check that does not parse, when the alias or request is given. */
export function validateCheck(check: DelegateCheck | undefined, field: string): void {
  if (check && typeof check === 'object' && 'cel' in check) {
    try {
      parse(check.cel);
    } catch (err) {
      throw invalid(field, `is not a valid CEL expression: ${(err as Error).message}`);
    }
  }
}

function parseJson(text: string): unknown {
  const t = text
    .trim()
    .replace(/^```(?:json)?\s*/i, '')
    .replace(/```$/, '')
    .trim();
  if (!t) return undefined;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return undefined;
  }
}
