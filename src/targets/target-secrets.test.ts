import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox } from '../secrets/secret-box.js';
import { checkConfig } from './target-config.js';
import { openConfig, redactConfig, sealConfig } from './target-secrets.js';

const box = new SecretBox(randomBytes(32));

describe('target secrets', () => {
  const input = {
    base_url: 'https://api.example.com',
    headers: { 'X-Key': 'header-secret' },
    auth: { type: 'basic', username: 'bob', password: 'pw-secret' },
  };

  it('seals every secret, shows only that it is set, and opens them for a run', () => {
    const stored = sealConfig('http', input, box);
    const text = JSON.stringify(stored);
    expect(text).not.toContain('header-secret');
    expect(text).not.toContain('pw-secret');
    expect(text).toContain('bob');
    const view = redactConfig(stored);
    expect(view.config).toEqual({
      base_url: 'https://api.example.com',
      headers: { 'X-Key': { set: true } },
      auth: { type: 'basic', username: 'bob', password: { set: true } },
    });
    expect(view.secrets_set.sort()).toEqual(['/auth/password', '/headers/X-Key']);
    expect(openConfig(stored, box)).toEqual(input);
  });

  it('keeps stored secrets that are omitted or sent back as { set: true }, per place', () => {
    const stored = sealConfig('http', input, box);
    const next = sealConfig(
      'http',
      {
        base_url: 'https://api.example.com',
        headers: { 'X-Key': { set: true } },
        auth: { type: 'basic', username: 'eve' },
      },
      box,
      stored,
    );
    expect(openConfig(next, box)).toEqual({
      ...input,
      auth: { type: 'basic', username: 'eve', password: 'pw-secret' },
    });
    // A header that was never stored, or an auth of another type, has nothing to keep.
    expect(() =>
      sealConfig('http', { base_url: 'https://x.test', headers: { 'X-Other': { set: true } } }, box, stored),
    ).toThrow(expect.objectContaining({ details: expect.objectContaining({ field: '/config/headers/X-Other' }) }));
    expect(() => sealConfig('http', { base_url: 'https://x.test', auth: { type: 'bearer' } }, box, stored)).toThrow(
      expect.objectContaining({ details: expect.objectContaining({ field: '/config/auth/token' }) }),
    );
  });

  it('refuses to open values sealed under another key', () => {
    const stored = sealConfig('http', input, new SecretBox(randomBytes(32)));
    expect(() => openConfig(stored, box)).toThrow(expect.objectContaining({ code: 'SECRET_UNREADABLE' }));
  });
});

describe('checkConfig', () => {
  it('fills defaults and names the offending field', () => {
    expect(checkConfig('filesystem', { root: '/srv/docs' })).toEqual({ root: '/srv/docs', read_only: true });
    expect(checkConfig('http', { base_url: 'https://x.test' })).toMatchObject({ allow_private: false });
    const field = (type: 'filesystem' | 'http' | 'shell', config: unknown) => {
      try {
        checkConfig(type, config);
      } catch (err) {
        return (err as { details: { field: string } }).details.field;
      }
      return undefined;
    };
    expect(field('filesystem', { root: 'docs' })).toBe('/config/root');
    expect(field('http', { base_url: 'ftp://x.test' })).toBe('/config/base_url');
    expect(field('http', { base_url: 'https://x.test', auth: { type: 'oauth' } })).toBe('/config/auth/type');
    expect(field('http', { base_url: 'https://x.test', auth: { type: 'header', value: 'v' } })).toBe(
      '/config/auth/name',
    );
    expect(field('http', { base_url: 'https://x.test', headers: { 'bad header': 'v' } })).toBe(
      '/config/headers/bad header',
    );
    expect(field('shell', { cwd: '/srv', allowed_programs: ['../bin/sh'] })).toBe('/config/allowed_programs/0');
    expect(field('shell', { cwd: '/srv', allowed_programs: ['git'], env: { PATH: '/tmp' } })).toBe('/config/env/PATH');
    expect(field('shell', { cwd: '/srv', allowed_programs: ['git'], timeout_ms: 5 })).toBe('/config/timeout_ms');
  });
});
