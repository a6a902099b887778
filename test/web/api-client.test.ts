import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError } from '../../web/src/lib/api.js';

/** A fake Clarion auth API: access tokens expire on demand, refresh tokens rotate and are single-use. */
function fakeServer() {
  let n = 0;
  const valid = new Set<string>();
  const refreshes = new Set<string>();
  const calls: string[] = [];
  const pair = () => {
    n++;
    valid.add(`a${n}`);
    refreshes.add(`r${n}`);
    return { access_token: `a${n}`, refresh_token: `r${n}`, expires_in: 900, user: { id: 'u', username: 'ada' } };
  };
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });
  const fetchFn = (async (url: string, init: RequestInit) => {
    calls.push(`${init.method} ${url}`);
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    if (url === '/api/v1/auth/login') return json(200, pair());
    if (url === '/api/v1/auth/refresh') {
      if (!refreshes.delete(body.refresh_token))
        return json(401, { error: { code: 'REFRESH_TOKEN_INVALID', message: 'no' } });
      return json(200, pair());
    }
    const auth = (init.headers as Record<string, string>).authorization?.replace('Bearer ', '');
    if (!auth || !valid.has(auth)) return json(401, { error: { code: 'TOKEN_EXPIRED', message: 'expired' } });
    if (url === '/api/v1/missing') return json(404, { error: { code: 'ROUTE_NOT_FOUND', message: 'No route' } });
    return json(200, { ok: true, token: auth });
  }) as typeof fetch;
  return { fetchFn, calls, expireAll: () => valid.clear() };
}

function memoryStorage() {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
    map: m,
  };
}

describe('ApiClient', () => {
  it('keeps the refresh token in the given storage and the access token in memory', async () => {
    const s = fakeServer();
    const storage = memoryStorage();
    const api = new ApiClient(storage, s.fetchFn);
    await api.login('ada', 'pw');
    expect([...storage.map.entries()]).toEqual([['clarion.refresh', 'r1']]);
    expect(await api.get('/api/v1/thing')).toEqual({ ok: true, token: 'a1' });
  });

  it('after a 401 refreshes once, shared by parallel requests, and retries', async () => {
    const s = fakeServer();
    const api = new ApiClient(memoryStorage(), s.fetchFn);
    await api.login('ada', 'pw');
    s.expireAll();
    const results = await Promise.all([api.get('/api/v1/a'), api.get('/api/v1/b'), api.get('/api/v1/c')]);
    expect(results.map((r) => (r as { token: string }).token)).toEqual(['a2', 'a2', 'a2']);
    expect(s.calls.filter((c) => c.endsWith('/auth/refresh'))).toHaveLength(1);
  });

  it('a new client (a reload) restores the session from storage', async () => {
    const s = fakeServer();
    const storage = memoryStorage();
    await new ApiClient(storage, s.fetchFn).login('ada', 'pw');
    const reloaded = new ApiClient(storage, s.fetchFn);
    expect(reloaded.hasSession).toBe(true);
    expect(await reloaded.get('/api/v1/thing')).toEqual({ ok: true, token: 'a2' });
    expect(storage.map.get('clarion.refresh')).toBe('r2');
  });

  it('signs out when the refresh token is refused', async () => {
    const s = fakeServer();
    const storage = memoryStorage();
    storage.setItem('clarion.refresh', 'stolen-and-used');
    const api = new ApiClient(storage, s.fetchFn);
    let signedOut = 0;
    api.onSignedOut(() => signedOut++);
    await expect(api.get('/api/v1/thing')).rejects.toMatchObject({ status: 401 });
    expect(signedOut).toBe(1);
    expect(api.hasSession).toBe(false);
  });

  it('turns error bodies into ApiError; a missing route is "not available"', async () => {
    const s = fakeServer();
    const api = new ApiClient(memoryStorage(), s.fetchFn);
    await api.login('ada', 'pw');
    const err = await api.get('/api/v1/missing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).notAvailable).toBe(true);
    expect((err as ApiError).code).toBe('ROUTE_NOT_FOUND');
    const field = new ApiError(400, 'VALIDATION_FAILED', 'bad', { field: 'body/config/root' });
    expect(field.field).toBe('config.root');
  });
});
