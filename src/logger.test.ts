import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AccessLog, BufferedLines, isoTime } from './logger.js';

function capture(level: pino.LevelWithSilent) {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = pino({ level, base: { service: 'clarion' }, timestamp: isoTime }, dest);
  return { logger, lines };
}

describe('AccessLog', () => {
  it('writes the line pino writes for the same fields', async () => {
    const { logger, lines } = capture('info');
    const access = new AccessLog(logger);
    const fields = { reqId: 'r-1', method: 'GET', url: '/api/v1/auth/me', status: 200, ms: 1.25, user: 'u-1' };
    access.write(fields.reqId, fields.method, fields.url, fields.status, fields.ms, fields.user);
    logger.info(fields, 'request');
    access.write('r-2', 'POST', '/x', 404, 0.5, undefined);
    await new Promise((r) => setImmediate(r));
    const [ours, pinos, anonymous] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    // (The time may differ by a millisecond.)
    expect(ours!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect({ ...ours, time: 0 }).toEqual({ ...pinos, time: 0 });
    expect(Object.keys(ours!)).toEqual(Object.keys(pinos!));
    expect(anonymous).not.toHaveProperty('user');
    expect(anonymous).toMatchObject({ level: 30, reqId: 'r-2', method: 'POST', status: 404, msg: 'request' });
  });

  it('escapes what a client put in the path, so a line stays one JSON object', async () => {
    const { logger, lines } = capture('info');
    new AccessLog(logger).write('r', 'GET', '/a"b\\c\n{"level":60}', 404, 1, undefined);
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ url: '/a"b\\c\n{"level":60}', level: 30 });
  });

  it('writes nothing above info, and follows a level changed at run time', async () => {
    const { logger, lines } = capture('warn');
    const access = new AccessLog(logger);
    access.write('r', 'GET', '/', 200, 1, undefined);
    logger.level = 'info';
    access.write('r2', 'GET', '/', 200, 1, undefined);
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => (JSON.parse(l) as { reqId: string }).reqId)).toEqual(['r2']);
  });
});

describe('BufferedLines', () => {
  const file = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-log-')), 'out.log');
  // An open file descriptor, as the server's is (stdout).
  const destination = (f: string) => fs.openSync(f, 'a');
  const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');

  it('hands short lines over after at most 250 ms, and a batch of 4 KB at once', async () => {
    const f = file();
    const lines = new BufferedLines(destination(f));
    for (let i = 0; i < 10; i++) lines.write(`short ${i}\n`);
    await new Promise((r) => setTimeout(r, 50));
    expect(read(f)).toBe('');
    await new Promise((r) => setTimeout(r, 400));
    expect(read(f).split('\n').filter(Boolean)).toHaveLength(10);
    lines.write(`${'x'.repeat(5000)}\n`);
    expect(read(f)).toContain('x'.repeat(5000));
    lines.end();
  });

  it('writes what it gathered synchronously on flushSync (as at exit), in order', () => {
    const f = file();
    const lines = new BufferedLines(destination(f));
    for (let i = 0; i < 3000; i++) lines.write(`line ${i} é\n`);
    // Every full batch is in the file already, in order, with nothing still on its way.
    const before = read(f).split('\n').filter(Boolean);
    expect(before.length).toBeGreaterThan(2500);
    expect(before).toEqual(Array.from({ length: before.length }, (_, i) => `line ${i} é`));
    lines.flushSync();
    const got = read(f).split('\n').filter(Boolean);
    expect(got).toHaveLength(3000);
    expect(got[0]).toBe('line 0 é');
    expect(got.at(-1)).toBe('line 2999 é');
    lines.end();
  });

  it('a process that exits writes its last lines', () => {
    const f = file();
    const script = `
      import fs from 'node:fs';
      import { BufferedLines } from ${JSON.stringify(path.resolve('src/logger.ts'))};
      const lines = new BufferedLines(fs.openSync(${JSON.stringify(f)}, 'a'));
      lines.write('last words\\n');
      process.exit(3);
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(3);
    expect(read(f)).toBe('last words\n');
  });
});
