import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorCodes } from '../../src/errors/error-codes.js';

const doc = fs.readFileSync(path.join(import.meta.dirname, '../../docs/errors.md'), 'utf8');

/** `| CODE | status | meaning |` rows of docs/errors.md. */
function documentedCodes(): Map<string, { status: number; meaning: string }[]> {
  const rows = new Map<string, { status: number; meaning: string }[]>();
  for (const line of doc.split('\n')) {
    const m = /^\|\s*`?([A-Z][A-Z0-9_]+)`?\s*\|\s*(\d{3})\s*\|\s*(.*?)\s*\|\s*$/.exec(line);
    if (!m) continue;
    const list = rows.get(m[1]!) ?? [];
    list.push({ status: Number(m[2]), meaning: m[3]! });
    rows.set(m[1]!, list);
  }
  return rows;
}

describe('error code registry and docs/errors.md', () => {
  const documented = documentedCodes();
  const registry = errorCodes as Record<string, { status: number; message: string }>;

  it('documents every code with its status and a meaning', () => {
    const missing = Object.keys(registry).filter((c) => !documented.has(c));
    expect(missing, 'codes missing from docs/errors.md').toEqual([]);
    for (const [code, { status }] of Object.entries(registry)) {
      const rows = documented.get(code)!;
      expect(rows, `${code} is documented more than once`).toHaveLength(1);
      expect(rows[0]!.status, `status of ${code} in docs/errors.md`).toBe(status);
      expect(rows[0]!.meaning.length, `meaning of ${code}`).toBeGreaterThan(3);
    }
  });

  it('documents no code the registry does not have', () => {
    const unknown = [...documented.keys()].filter((c) => !(c in registry));
    expect(unknown, 'codes in docs/errors.md that are not in src/errors/error-codes.ts').toEqual([]);
  });

  it('gives every code an HTTP error status and a message', () => {
    for (const [code, { status, message }] of Object.entries(registry)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(status >= 400 && status <= 599, `${code} status ${status}`).toBe(true);
      expect(message.length, `${code} message`).toBeGreaterThan(3);
    }
  });
});
