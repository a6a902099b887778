import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPublicAddress } from './address-policy.js';
import { guardedFetch } from './guarded-fetch.js';

describe('isPublicAddress', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::',
    'not an ip',
  ])('refuses %s', (a) => expect(isPublicAddress(a)).toBe(false));
  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111'])('allows %s', (a) => expect(isPublicAddress(a)).toBe(true));
});

describe('guardedFetch', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/ok') return res.end('hello');
      if (req.url === '/big') return res.end('x'.repeat(5000));
      if (req.url === '/slow') return setTimeout(() => res.end('late'), 2000);
      if (req.url === '/to-metadata') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        return res.end();
      }
      if (req.url === '/to-loopback-name') {
        res.writeHead(302, { location: `http://localhost:${port}/ok` });
        return res.end();
      }
      if (req.url === '/same-host') {
        res.writeHead(302, { location: '/ok' });
        return res.end();
      }
      if (req.url === '/loop') {
        res.writeHead(302, { location: '/loop' });
        return res.end();
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it.each([
    'http://127.0.0.1:PORT/ok',
    'http://10.0.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]:PORT/ok',
    'http://[::ffff:127.0.0.1]:PORT/ok',
    'http://2130706433:PORT/ok',
    'http://0177.0.0.1:PORT/ok',
    'http://0x7f.0.0.1:PORT/ok',
    'http://0x7f000001:PORT/ok',
    'http://127.1:PORT/ok',
    'http://0.0.0.0:PORT/ok',
  ])('refuses %s', async (u) => {
    await expect(guardedFetch(u.replace('PORT', String(port)), { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'OUTBOUND_BLOCKED',
    });
  });

  it('refuses a DNS name that resolves to loopback, checked at connect time', async () => {
    await expect(guardedFetch(`http://localhost:${port}/ok`)).rejects.toMatchObject({ code: 'OUTBOUND_BLOCKED' });
    // The same URL works when private addresses are allowed: the refusal above is the policy, not the network.
    const res = await guardedFetch(`http://localhost:${port}/ok`, { allowPrivate: true });
    expect(res.body.toString()).toBe('hello');
  });

  it('answers with status, headers and body when private addresses are allowed', async () => {
    const res = await guardedFetch(`http://127.0.0.1:${port}/ok`, { allowPrivate: true });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('5');
    expect(res.body.toString()).toBe('hello');
  });

  it('follows redirects on the same host and refuses redirects elsewhere', async () => {
    const ok = await guardedFetch(`http://127.0.0.1:${port}/same-host`, { allowPrivate: true });
    expect(ok.url).toBe(`http://127.0.0.1:${port}/ok`);
    await expect(guardedFetch(`http://127.0.0.1:${port}/to-metadata`, { allowPrivate: true })).rejects.toMatchObject({
      code: 'OUTBOUND_BLOCKED',
    });
    await expect(
      guardedFetch(`http://127.0.0.1:${port}/to-loopback-name`, { allowPrivate: true }),
    ).rejects.toMatchObject({ code: 'OUTBOUND_BLOCKED' });
    await expect(
      guardedFetch(`http://127.0.0.1:${port}/loop`, { allowPrivate: true, maxRedirects: 3 }),
    ).rejects.toMatchObject({ code: 'OUTBOUND_FAILED' });
  });

  it('enforces the allowed hosts, the size cap and the timeout', async () => {
    await expect(
      guardedFetch(`http://127.0.0.1:${port}/ok`, { allowPrivate: true, allowedHosts: ['api.example.com'] }),
    ).rejects.toMatchObject({ code: 'OUTBOUND_BLOCKED' });
    await expect(
      guardedFetch(`http://127.0.0.1:${port}/big`, { allowPrivate: true, maxBytes: 1000 }),
    ).rejects.toMatchObject({ code: 'OUTBOUND_TOO_LARGE' });
    await expect(
      guardedFetch(`http://127.0.0.1:${port}/slow`, { allowPrivate: true, timeoutMs: 200 }),
    ).rejects.toMatchObject({ code: 'OUTBOUND_TIMEOUT' });
  });

  it('refuses other schemes and says why an unreachable host fails', async () => {
    await expect(guardedFetch('file:///etc/passwd')).rejects.toMatchObject({ code: 'OUTBOUND_BLOCKED' });
    await expect(guardedFetch('http://no-such-host.invalid/')).rejects.toMatchObject({
      code: 'OUTBOUND_FAILED',
      details: { cause: 'ENOTFOUND' },
    });
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(guardedFetch(`http://127.0.0.1:${closedPort}/`, { allowPrivate: true })).rejects.toMatchObject({
      code: 'OUTBOUND_FAILED',
      details: { cause: 'ECONNREFUSED' },
    });
  });
});
