import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';

// The fake upstream must speak the wire format the official client expects, or every gateway test lies.
describe('fake LLM upstream', () => {
  let fake: FakeLlm;
  let client: OpenAI;
  beforeAll(async () => {
    fake = await startFakeLlm({ apiKey: 'sk-fake' });
    client = new OpenAI({ apiKey: 'sk-fake', baseURL: `${fake.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => fake?.close());

  it('answers chat whole and streamed, with usage', async () => {
    const whole = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello there' }],
    });
    expect(whole.choices[0]?.message.content).toBe('echo: hello there');
    expect(whole.usage?.prompt_tokens).toBeGreaterThan(0);

    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'one two three' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: unknown;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe('echo: one two three');
    expect(usage).toMatchObject({ completion_tokens: expect.any(Number) });
    expect(fake.calls.at(-1)?.headers.authorization).toBe('Bearer sk-fake');
  });

  it('streams tool calls the client can assemble', async () => {
    fake.behave({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Oslo"}' }] });
    const runner = client.chat.completions.stream({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
    });
    const done = await runner.finalChatCompletion();
    expect(done.choices[0]?.message.tool_calls?.[0]).toMatchObject({
      function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
    });
  });

  it('fails, rate limits and embeds as scripted', async () => {
    fake.behave({ status: 429, retryAfter: 3 });
    await expect(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 429 });
    const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b', 'a'] });
    expect(emb.data).toHaveLength(3);
    expect(emb.data[0]?.embedding).toHaveLength(8);
    expect(emb.data[0]?.embedding[0]).toBeCloseTo(emb.data[2]!.embedding[0]!, 5);
  });

  it('speaks the Anthropic Messages stream', async () => {
    const res = await fetch(`${fake.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-fake', 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 50,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    const text = await res.text();
    expect(text).toContain('event: message_start');
    expect(text).toContain('"text_delta"');
    expect(text.trim().endsWith('data: {"type":"message_stop"}')).toBe(true);
  });
});
