import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, runClarion, startClarion, waitForOutput } from '../helpers/clarion-process.js';

/** Child processes start through tsx (seconds each on a busy machine). */
const SLOW = 120_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-startup-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('process start and stop', () => {
  it(
    'a bad config value stops the start with a message naming the key',
    async () => {
      const res = await runClarion(['serve'], { CLARION_PORT: 'abc', CLARION_DATA_DIR: path.join(dir, 'bad') });
      expect(res.code).not.toBe(0);
      expect(res.stderr).toContain('CLARION_PORT');
      expect(res.stderr).toContain('an integer from 0 to 65535');
      // Nothing was created: the start stopped before touching the data folder.
      expect(fs.existsSync(path.join(dir, 'bad'))).toBe(false);
    },
    SLOW,
  );

  it(
    'prints a generated admin password once, and on SIGTERM finishes the in-flight request and exits 0',
    async () => {
      const child = startClarion(['serve'], {
        CLARION_PORT: '0',
        CLARION_DATA_DIR: path.join(dir, 'serve'),
        CLARION_LOG_LEVEL: 'info',
      });
      const done = collect(child);
      const password = (await waitForOutput(child, /password: (\S+)/))[1]!;
      const url = new URL((await waitForOutput(child, /"url":"(http:[^"]+)"/))[1]!);

      // A request whose body is still arriving when SIGTERM comes: it must still be answered.
      const body = JSON.stringify({ username: 'admin', password });
      const socket = net.connect(Number(url.port), url.hostname);
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      let response = '';
      socket.on('data', (d) => (response += d.toString()));
      const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      const until = async (re: RegExp) => {
        while (!re.test(response)) await new Promise((r) => setTimeout(r, 20));
      };
      // A first request on the same connection proves the server holds it before the real test starts.
      socket.write(`GET /health HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
      await until(/\{"status":"ok"\}/);
      response = '';
      socket.write(
        `POST /api/v1/auth/login HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
      );
      await new Promise((r) => setTimeout(r, 500));
      child.kill('SIGTERM');
      await waitForOutput(child, /shutting down/);
      // The server is closing; a new connection is no longer served.
      await new Promise((r) => setTimeout(r, 200));
      socket.write(body.slice(10));
      await ended;
      expect(response).toMatch(/^HTTP\/1\.1 200/);
      expect(response).toContain('"must_change_password":true');

      const result = await done;
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('shutting down');
      expect(result.stdout).toContain('"msg":"stopped"');
      // The generated password is printed once, in the banner, and never in a log line.
      expect(result.stdout.split(password).length - 1).toBe(1);
    },
    SLOW,
  );
});
