import { describe, expect, it } from 'vitest';
import { fromAnthropicResponse, toAnthropicRequest } from './anthropic-provider.js';
import { scrub } from './provider-http.js';

describe('Anthropic translation', () => {
  it('moves system text out, turns tool calls and results into blocks, and merges same-role turns', () => {
    const out = toAnthropicRequest({
      model: 'claude-3-5-haiku-latest',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'weather in Oslo and Rome?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 't1', type: 'function', function: { name: 'w', arguments: '{"c":"Oslo"}' } },
            { id: 't2', type: 'function', function: { name: 'w', arguments: '{"c":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 't1', content: 'cold' },
        { role: 'tool', tool_call_id: 't2', content: 'warm' },
      ],
      tools: [{ type: 'function', function: { name: 'w', parameters: { type: 'object' } } }],
      tool_choice: 'required',
      stop: 'END',
    });
    expect(out).toMatchObject({
      system: 'be brief',
      max_tokens: 4096,
      stop_sequences: ['END'],
      tool_choice: { type: 'any' },
      tools: [{ name: 'w', input_schema: { type: 'object' } }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'weather in Oslo and Rome?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 't1', name: 'w', input: { c: 'Oslo' } },
            { type: 'tool_use', id: 't2', name: 'w', input: { c: 'Rome' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 't1', content: 'cold' },
            { type: 'tool_result', tool_use_id: 't2', content: 'warm' },
          ],
        },
      ],
    });
  });

  it('turns an answer with tool use into an OpenAI completion', () => {
    const c = fromAnthropicResponse(
      {
        id: 'msg_1',
        model: 'claude',
        content: [
          { type: 'text', text: 'Let me look.' },
          { type: 'tool_use', id: 'tu1', name: 'w', input: { c: 'Oslo' } },
        ],
        stop_reason: 'tool_use',
        usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 2 },
      },
      'claude',
    );
    expect(c.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        content: 'Let me look.',
        tool_calls: [{ id: 'tu1', function: { name: 'w', arguments: '{"c":"Oslo"}' } }],
      },
    });
    expect(c.usage).toEqual({ prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 });
  });
});

describe('scrub', () => {
  it('removes a key and its quoted tail from upstream messages', () => {
    const key = 'sk-proj-abcdefghijklmnop12345678';
    expect(scrub(`Incorrect API key provided: ${key}`, key)).toBe('Incorrect API key provided: ***');
    expect(scrub('key ending in ...12345678 is wrong', key)).toBe('key ending in ...*** is wrong');
  });
});
