import { describe, expect, it } from 'vitest';
import { countPromptTokens, countTokens, estimatePromptTokens, estimateTokens } from './tokens.js';

const prose =
  'Clarion lets a team define agents, targets, capabilities and workflows, and run those workflows durably: ' +
  'asynchronous, retried, resumable after a crash, streamed live to the browser.';
const code = 'export function add(a: number, b: number): number {\n  return a + b; // the sum\n}\n'.repeat(5);
const json = JSON.stringify({ users: [{ id: 1, name: 'Ada', roles: ['admin', 'viewer'] }], next: null });
const cjk = '耐久性のあるワークフローを実行し、クラッシュ後に再開します。这是一个测试句子。';

describe('estimateTokens (what an in-flight call is held to cost)', () => {
  it('is at least the tokenizer count for prose, code and JSON, and within a factor of two', () => {
    for (const text of [prose, code, json]) {
      const counted = countTokens(text);
      expect(estimateTokens(text)).toBeGreaterThanOrEqual(counted);
      expect(estimateTokens(text)).toBeLessThanOrEqual(counted * 2);
    }
  });

  it('is about the tokenizer count for CJK text', () => {
    const counted = countTokens(cjk);
    expect(estimateTokens(cjk)).toBeGreaterThanOrEqual(counted * 0.7);
    expect(estimateTokens(cjk)).toBeLessThanOrEqual(counted * 1.5);
  });

  it('counts a chat request with its framing, tools included, like countPromptTokens', () => {
    const req = {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system' as const, content: prose },
        { role: 'user' as const, content: code },
      ],
      tools: [{ type: 'function' as const, function: { name: 'add', parameters: { type: 'object' } } }],
    };
    expect(estimatePromptTokens(req)).toBeGreaterThanOrEqual(countPromptTokens(req));
    expect(estimatePromptTokens({ messages: [] })).toBe(3);
    expect(estimateTokens('')).toBe(0);
  });
});
