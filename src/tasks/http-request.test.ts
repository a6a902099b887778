import { describe, expect, it } from 'vitest';
import { joinTargetUrl } from './http-request.task.js';

describe('joinTargetUrl', () => {
  const base = 'https://api.example.com/v1';

  it('joins the path below the base path and adds the query', () => {
    expect(joinTargetUrl(base, '/items/7').toString()).toBe('https://api.example.com/v1/items/7');
    expect(joinTargetUrl(`${base}/`, 'items').toString()).toBe('https://api.example.com/v1/items');
    expect(joinTargetUrl(base, 'search?q=a', { n: [1, 2], x: true }).toString()).toBe(
      'https://api.example.com/v1/search?q=a&n=1&n=2&x=true',
    );
    expect(joinTargetUrl(base).toString()).toBe('https://api.example.com/v1/');
  });

  it('keeps the base query', () => {
    expect(joinTargetUrl('https://h.example/api?key=1', 'x', { y: 2 }).toString()).toBe(
      'https://h.example/api/x?key=1&y=2',
    );
  });

  it.each([
    'http://169.254.169.254/',
    'HTTPS://evil.example/',
    '//evil.example/x',
    'javascript:alert(1)',
    '../admin',
    'a/../../admin',
    '%2e%2e/admin',
    '.%2E/admin',
    'a/./b',
    'a\\..\\..\\admin',
    'x#frag',
    'x\r\nHost: evil',
  ])('refuses %j', (p) => {
    expect(() => joinTargetUrl(base, p)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });

  it('keeps odd but harmless characters inside the path', () => {
    const url = joinTargetUrl(base, '@evil.example/x y');
    expect(url.host).toBe('api.example.com');
    expect(url.pathname).toBe('/v1/@evil.example/x%20y');
  });
});
