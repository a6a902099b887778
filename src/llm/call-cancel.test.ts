import http from 'node:http';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { closeServer, listenLocal } from '../../test/helpers/local-server.js';
import { CallCancel } from './call-cancel.js';

describe('CallCancel', () => {
  it('calls each abort listener once, in order, and sets aborted and reason first', () => {
    const c = new CallCancel();
    const seen: string[] = [];
    const a = () => seen.push(`a:${String(c.aborted)}:${String(c.reason)}`);
    const b = () => seen.push('b');
    c.addEventListener('abort', a);
    c.addEventListener('abort', a); // added twice: called once, as on an AbortSignal
    c.addEventListener('abort', b);
    expect(c.aborted).toBe(false);
    c.abort('gone');
    c.abort('again');
    expect(seen).toEqual(['a:true:gone', 'b']);
    expect(c.reason).toBe('gone');
  });

  it('does not call a removed listener, nor one added after the abort', () => {
    const c = new CallCancel();
    let calls = 0;
    const l = () => calls++;
    c.addEventListener('abort', l);
    c.removeEventListener('abort', l);
    c.removeEventListener('abort', l);
    c.abort();
    c.addEventListener('abort', l);
    expect(calls).toBe(0);
    expect(c.reason).toBeInstanceOf(DOMException);
    expect((c.reason as DOMException).name).toBe('AbortError');
  });

  it('calls every listener when one throws, and throws its error afterwards, uncaught', async () => {
    const c = new CallCancel();
    const calls: number[] = [];
    c.addEventListener('abort', () => {
      calls.push(1);
      throw new Error('listener failed');
    });
    c.addEventListener('abort', () => calls.push(2));
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const uncaught = new Promise<Error>((resolve) => process.once('uncaughtException', resolve));
    try {
      c.abort();
      expect(calls).toEqual([1, 2]);
      expect((await uncaught).message).toBe('listener failed');
    } finally {
      for (const l of listeners) process.on('uncaughtException', l);
    }
  });

  it('aborts an undici request in flight: the request fails and the server sees its connection close', async () => {
    let closed!: () => void;
    const serverSawClose = new Promise<void>((resolve) => (closed = resolve));
    // Never answers; notes when the client's connection goes away.
    const server = http.createServer((req) => req.socket.once('close', () => closed()));
    const base = await listenLocal(server);
    const agent = new Agent();
    try {
      const cancel = new CallCancel();
      const pending = request(`${base}/`, {
        method: 'POST',
        body: '{}',
        dispatcher: agent,
        signal: cancel as unknown as AbortSignal,
      });
      setTimeout(() => cancel.abort(new Error('the client went away')), 50);
      await expect(pending).rejects.toThrow('the client went away');
      await serverSawClose;
    } finally {
      await agent.close();
      await closeServer(server);
    }
  });

  it('leaves no listener behind on a request that completes', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    const base = await listenLocal(server);
    const agent = new Agent();
    try {
      const cancel = new CallCancel();
      const res = await request(`${base}/`, {
        dispatcher: agent,
        signal: cancel as unknown as AbortSignal,
      });
      expect(await res.body.text()).toBe('ok');
      // undici removes its listener once the body is read (on the body's 'close', a tick later).
      await new Promise((resolve) => setImmediate(resolve));
      expect((cancel as unknown as { listeners?: unknown[] }).listeners ?? []).toHaveLength(0);
    } finally {
      await agent.close();
      await closeServer(server);
    }
  });
});
