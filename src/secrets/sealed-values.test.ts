import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { firstSealedIn, keyIdOf, resealColumnText } from './sealed-values.js';
import { SecretBox } from './secret-box.js';

describe('resealColumnText', () => {
  const a = new SecretBox(randomBytes(32));
  const b = new SecretBox(randomBytes(32));

  it('re-seals a sealed column and every sealed string inside a JSON column', () => {
    const single = resealColumnText(a.seal('k1'), a, b)!;
    expect(keyIdOf(single)).toBe(b.keyId);
    expect(b.open(single)).toBe('k1');

    const json = JSON.stringify({
      auth: { token: a.seal('t') },
      headers: { x: a.seal('h') },
      plain: 'p',
      list: [a.seal('l')],
    });
    const next = JSON.parse(resealColumnText(json, a, b)!);
    expect(b.open(next.auth.token)).toBe('t');
    expect(b.open(next.headers.x)).toBe('h');
    expect(b.open(next.list[0])).toBe('l');
    expect(next.plain).toBe('p');
    expect(() => a.open(next.auth.token)).toThrow();
    expect(firstSealedIn(JSON.stringify(next))).toBe(next.auth.token);
  });

  it('leaves text without sealed values alone and refuses values of another key', () => {
    expect(resealColumnText('{"a":1}', a, b)).toBeUndefined();
    expect(resealColumnText('not json', a, b)).toBeUndefined();
    expect(() => resealColumnText(b.seal('x'), a, b)).toThrow(/another master key/);
  });
});
