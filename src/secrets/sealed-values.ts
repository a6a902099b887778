import { SecretBox } from './secret-box.js';

/** The key id a sealed value names (`enc:v1:<key id>:...`). */
export function keyIdOf(sealed: string): string | undefined {
  return SecretBox.isSealed(sealed) ? sealed.split(':')[2] : undefined;
}

/** Applies `fn` to every sealed string in a value (a sealed string itself, or nested in arrays/objects). */
export function mapSealed(value: unknown, fn: (sealed: string) => string): unknown {
  if (SecretBox.isSealed(value)) return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapSealed(v, fn));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapSealed(v, fn)]));
  }
  return value;
}

/**
 * Re-seals the stored text of one column: a sealed string, or JSON text containing sealed strings.
 * Returns the new text, or undefined when the text holds nothing sealed.
 */
export function resealColumnText(text: string, from: SecretBox, to: SecretBox): string | undefined {
  let count = 0;
  const reseal = (sealed: string) => {
    count++;
    return to.seal(from.open(sealed));
  };
  if (SecretBox.isSealed(text)) return reseal(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const next = mapSealed(parsed, reseal);
  return count > 0 ? JSON.stringify(next) : undefined;
}

/** The first sealed string found in a column's text, to learn which key sealed the data. */
export function firstSealedIn(text: string): string | undefined {
  if (SecretBox.isSealed(text)) return text;
  const m = /"(enc:v1:[^"]+)"/.exec(text);
  return m?.[1];
}
