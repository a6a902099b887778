import { describe, expect, it } from 'vitest';
import {
  parseJsonObject,
  validateApiKey,
  validateName,
  validateNewUser,
  validatePasswordChange,
} from '../../web/src/lib/validation.js';

describe('form validation', () => {
  it('password change: current given, 8+ characters, different, repeated', () => {
    expect(validatePasswordChange({ current: '', next: 'short', confirm: 'x' })).toEqual({
      current: 'Enter your current password.',
      next: 'Use at least 8 characters.',
      confirm: 'The passwords do not match.',
    });
    expect(
      validatePasswordChange({ current: 'same-password', next: 'same-password', confirm: 'same-password' }).next,
    ).toMatch(/differ/);
    expect(validatePasswordChange({ current: 'old-password', next: 'new-password', confirm: 'new-password' })).toEqual(
      {},
    );
  });

  it('new user: the server’s username and email rules, optional password', () => {
    expect(validateNewUser({ username: 'ab', email: 'x', password: '' })).toMatchObject({
      username: expect.any(String),
      email: expect.any(String),
    });
    expect(validateNewUser({ username: 'bad name', email: 'a@b.co', password: '' }).username).toMatch(/letters/);
    expect(validateNewUser({ username: 'ok.user', email: 'a@b.co', password: 'short' }).password).toBeDefined();
    expect(validateNewUser({ username: 'ok.user', email: 'a@b.co', password: '' })).toEqual({});
  });

  it('API key: a name, and expiry in whole days 1..3650', () => {
    expect(validateApiKey({ name: '  ', expiresInDays: '' }).name).toBeDefined();
    for (const d of ['0', '3651', '1.5', 'abc'])
      expect(validateApiKey({ name: 'k', expiresInDays: d }).expiresInDays).toBeDefined();
    expect(validateApiKey({ name: 'k', expiresInDays: '30' })).toEqual({});
  });

  it('names and JSON objects', () => {
    expect(validateName('')).toBe('Required.');
    expect(validateName('-x')).toBeDefined();
    expect(validateName('my-target_1')).toBeUndefined();
    expect(parseJsonObject('{"a":1}').value).toEqual({ a: 1 });
    expect(parseJsonObject('[1]').error).toMatch(/object/);
    expect(parseJsonObject('{oops').error).toMatch(/JSON/);
    expect(parseJsonObject('').value).toEqual({});
  });
});
