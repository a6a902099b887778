import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AccessLog, isoTime } from './logger.js';

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
    expect(ours).toEqual(pinos);
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
