import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { describeConfig, loadConfig, settings } from './config.js';
import { errorOf } from './config-error.testing.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-config-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function yamlFile(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('gives every setting its default', () => {
    const c = loadConfig({ env: {}, cwd: dir });
    expect(c.port).toBe(8080);
    expect(c.host).toBe('127.0.0.1');
    expect(c.data_dir).toBe(path.join(dir, 'data'));
    expect(c.access_token_ttl).toBe(15 * 60_000);
    expect(c.refresh_token_ttl).toBe(30 * 86_400_000);
    expect(c.body_limit).toBe(1024 * 1024);
    expect(c.open_registration).toBe(false);
    expect(c.cors_origins).toEqual([]);
    expect(c.database_url).toBeUndefined();
    expect(c.configFile).toBeUndefined();
    for (const key of Object.keys(settings)) expect(c.sources[key as keyof typeof settings]).toBe('default');
  });

  it('takes the environment over the file over the default, and overrides over all', () => {
    const file = yamlFile(
      'layers.yaml',
      'port: 9000\nlog_level: debug\ncors_origins: [https://a.test, https://b.test]\n',
    );
    const c = loadConfig({ env: { CLARION_PORT: '9100', CLARION_OPEN_REGISTRATION: 'yes' }, cwd: dir, file });
    expect(c.port).toBe(9100);
    expect(c.sources.port).toBe('env');
    expect(c.log_level).toBe('debug');
    expect(c.sources.log_level).toBe('file');
    expect(c.cors_origins).toEqual(['https://a.test', 'https://b.test']);
    expect(c.open_registration).toBe(true);
    expect(c.host).toBe('127.0.0.1');
    expect(c.sources.host).toBe('default');
    expect(c.configFile).toBe(file);
    const o = loadConfig({ env: { CLARION_PORT: '9100' }, cwd: dir, file, overrides: { port: 0 } });
    expect(o.port).toBe(0);
    expect(o.sources.port).toBe('override');
  });

  it('reads ./clarion.yaml from the working folder, or the file CLARION_CONFIG names', () => {
    const cwd = fs.mkdtempSync(path.join(dir, 'cwd-'));
    fs.writeFileSync(path.join(cwd, 'clarion.yaml'), 'port: 7001\n');
    expect(loadConfig({ env: {}, cwd }).port).toBe(7001);
    const other = yamlFile('other.yaml', 'port: 7002\n');
    expect(loadConfig({ env: { CLARION_CONFIG: other }, cwd }).port).toBe(7002);
    // An empty file is no settings at all.
    expect(loadConfig({ env: {}, cwd: dir, file: yamlFile('empty.yaml', '') }).port).toBe(8080);
  });

  it('parses durations, sizes, booleans and lists from text', () => {
    const c = loadConfig({
      env: {
        CLARION_ACCESS_TOKEN_TTL: '90s',
        CLARION_BODY_LIMIT: '512kb',
        CLARION_METRICS_ENABLED: 'off',
        CLARION_CORS_ORIGINS: 'https://a.test, https://b.test,',
      },
      cwd: dir,
    });
    expect(c.access_token_ttl).toBe(90_000);
    expect(c.body_limit).toBe(512 * 1024);
    expect(c.metrics_enabled).toBe(false);
    expect(c.cors_origins).toEqual(['https://a.test', 'https://b.test']);
  });

  it('names the key and what is allowed for a bad value', () => {
    const port = errorOf(() => loadConfig({ env: { CLARION_PORT: 'abc' }, cwd: dir }));
    expect(port.key).toBe('CLARION_PORT');
    expect(port.message).toContain('CLARION_PORT');
    expect(port.message).toContain('an integer from 0 to 65535');
    expect(port.message).toContain('"abc"');
    expect(errorOf(() => loadConfig({ env: { CLARION_PORT: '70000' }, cwd: dir })).key).toBe('CLARION_PORT');
    const level = errorOf(() => loadConfig({ env: { CLARION_LOG_LEVEL: 'loud' }, cwd: dir }));
    expect(level.message).toContain('one of fatal, error, warn, info, debug, trace, silent');
    const ttl = errorOf(() => loadConfig({ env: { CLARION_ACCESS_TOKEN_TTL: '15 minutes' }, cwd: dir }));
    expect(ttl.message).toContain('a duration such as');
    const bool = errorOf(() => loadConfig({ env: { CLARION_OPEN_REGISTRATION: 'maybe' }, cwd: dir }));
    expect(bool.message).toContain('true or false');
    const url = errorOf(() => loadConfig({ env: { CLARION_DATABASE_URL: 'mysql://x' }, cwd: dir }));
    expect(url.key).toBe('CLARION_DATABASE_URL');
    expect(url.message).toContain('a postgres:// URL');
  });

  it('never echoes a bad secret value', () => {
    const err = errorOf(() => loadConfig({ env: { CLARION_JWT_SECRET: 'short-secret' }, cwd: dir }));
    expect(err.key).toBe('CLARION_JWT_SECRET');
    expect(err.message).toContain('at least 32 characters');
    expect(err.message).not.toContain('short-secret');
  });

  it('refuses an unknown CLARION_ variable, naming it and the known ones', () => {
    const err = errorOf(() => loadConfig({ env: { CLARION_FOO: '1' }, cwd: dir }));
    expect(err.key).toBe('CLARION_FOO');
    expect(err.message).toContain('unknown setting');
    expect(err.message).toContain('CLARION_PORT');
    // Test-harness variables are not settings and are left alone.
    expect(() => loadConfig({ env: { CLARION_TEST_DATABASE_URL: 'x' }, cwd: dir })).not.toThrow();
  });

  it('refuses a bad YAML key, a bad YAML value, a broken file and a missing file', () => {
    const file = yamlFile('unknown.yaml', 'port: 8081\nprot: 8082\n');
    const unknown = errorOf(() => loadConfig({ env: {}, cwd: dir, file }));
    expect(unknown.key).toBe(`${file}: prot`);
    expect(unknown.message).toContain('unknown setting');
    const badValue = yamlFile('bad-value.yaml', 'max_page_size: 0\n');
    const value = errorOf(() => loadConfig({ env: {}, cwd: dir, file: badValue }));
    expect(value.key).toBe(`${badValue}: max_page_size`);
    expect(value.message).toContain('an integer from 1 to 10000');
    const broken = yamlFile('broken.yaml', 'port: [1, 2\n');
    expect(errorOf(() => loadConfig({ env: {}, cwd: dir, file: broken })).message).toContain('invalid YAML');
    const list = yamlFile('list.yaml', '- port\n');
    expect(errorOf(() => loadConfig({ env: {}, cwd: dir, file: list })).message).toContain('mapping');
    expect(errorOf(() => loadConfig({ env: {}, cwd: dir, file: path.join(dir, 'nope.yaml') })).message).toContain(
      'cannot read',
    );
  });

  it('places a YAML syntax error by line and column and never quotes the file', () => {
    // The broken line holds a secret: the yaml package's own message would quote it in a code frame.
    const secret = 'sk-live-0123456789abcdef0123456789abcdef';
    const unclosed = yamlFile('secret-quote.yaml', `port: 8080\njwt_secret: "${secret}\nlog_level: info\n`);
    const quote = errorOf(() => loadConfig({ env: {}, cwd: dir, file: unclosed }));
    expect(quote.key).toBe(unclosed);
    expect(quote.message).toMatch(/invalid YAML at line \d+, column \d+ \(MISSING_CHAR\): missing character/);
    expect(quote.message).not.toContain(secret);
    expect(quote.message).not.toContain('sk-live');
    expect(quote.message).not.toContain('jwt_secret');
    // A bad escape and a bad nesting: the package's messages would quote the escape or the token.
    const cases: [string, string, string, string][] = [
      ['escape.yaml', `secret_key: "${secret}\\q"\n`, 'line 1, column 54', 'BAD_DQ_ESCAPE'],
      ['nested.yaml', `port: 8080\njwt_secret: ${secret}: x\n`, 'line 2, column 13', 'BLOCK_AS_IMPLICIT_KEY'],
      ['twice.yaml', `jwt_secret: ${secret}\njwt_secret: ${secret}\n`, 'line 2, column 1', 'DUPLICATE_KEY'],
    ];
    for (const [name, text, where, code] of cases) {
      const err = errorOf(() => loadConfig({ env: {}, cwd: dir, file: yamlFile(name, text) }));
      expect(err.message).toContain(`invalid YAML at ${where} (${code}): `);
      expect(err.message).not.toContain(secret);
    }
    // An alias without its anchor fails after parsing, where the package's message names the alias.
    const alias = errorOf(() => loadConfig({ env: {}, cwd: dir, file: yamlFile('alias.yaml', `port: *${secret}\n`) }));
    expect(alias.message).toContain('invalid YAML');
    expect(alias.message).not.toContain(secret);
    // A warning (here an unknown tag) is still reported, by position only.
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      loadConfig({ env: {}, cwd: dir, file: yamlFile('tag.yaml', `jwt_secret: !vault ${secret}\n`) });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain('line 1, column 13 (TAG_RESOLVE_FAILED): unknown tag');
      expect(JSON.stringify(warn.mock.calls)).not.toContain(secret);
    } finally {
      warn.mockRestore();
    }
  });

  it('returns a frozen config', () => {
    const c = loadConfig({ env: {}, cwd: dir });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.sources)).toBe(true);
    expect(Object.isFrozen(c.cors_origins)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(c.port).toBe(8080);
  });
});

describe('describeConfig', () => {
  it('masks every secret and shows the rest with its source', () => {
    const c = loadConfig({
      env: {
        CLARION_ADMIN_PASSWORD: 'super-secret-admin-pw',
        CLARION_JWT_SECRET: 'j'.repeat(40),
        CLARION_DATABASE_URL: 'postgres://u:dbpass@localhost/db',
        CLARION_PORT: '9001',
      },
      cwd: dir,
    });
    const d = describeConfig(c);
    const text = JSON.stringify(d);
    expect(text).not.toContain('super-secret-admin-pw');
    expect(text).not.toContain('j'.repeat(40));
    expect(text).not.toContain('dbpass');
    expect(d.admin_password).toEqual({ value: '********', source: 'env', env: 'CLARION_ADMIN_PASSWORD' });
    expect(d.database_url!.value).toBe('********');
    expect(d.port).toEqual({ value: 9001, source: 'env', env: 'CLARION_PORT' });
    // An unset secret shows as unset, not as a mask.
    expect(d.secret_key!.value).toBeUndefined();
    for (const [key, s] of Object.entries(settings)) {
      if (s.secret && c[key as keyof typeof settings] !== undefined) expect(d[key]!.value).toBe('********');
    }
  });
});
