/** The error body every Clarion route answers with: `{ error: { code, message, details } }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }

  /** The route does not exist on this server (the module is not installed or not built yet). */
  get notAvailable(): boolean {
    return this.status === 404 && this.code === 'ROUTE_NOT_FOUND';
  }

  /** The offending field of a validation error, e.g. `body/name` → `name`. */
  get field(): string | undefined {
    const f = (this.details as { field?: unknown } | undefined)?.field;
    return typeof f === 'string' ? f.replace(/^body\/?/, '').replace(/\//g, '.') : undefined;
  }
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  user: User;
}

export interface User {
  id: string;
  username: string;
  email: string;
  role: string;
  disabled: boolean;
  must_change_password: boolean;
  created_at: string;
  updated_at: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * Why sessionStorage for the refresh token: it survives a reload (the page is not lost) but is private
 * to the tab. Refresh tokens rotate and a reused one revokes the whole session, so two tabs sharing one
 * token through localStorage would sign each other out. The access token stays in memory only.
 */
const REFRESH_KEY = 'clarion.refresh';

type Listener = () => void;

/** Fetch wrapper: adds the bearer token, refreshes it before expiry or after a 401, and parses errors. */
export class ApiClient {
  private access: string | undefined;
  private expiresAt = 0;
  private refreshing: Promise<boolean> | undefined;
  private readonly signedOut = new Set<Listener>();

  constructor(
    private readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> = globalThis.sessionStorage,
    private readonly fetchFn: typeof fetch = (...a) => fetch(...a),
  ) {}

  get hasSession(): boolean {
    return this.storage.getItem(REFRESH_KEY) !== null;
  }

  /** The current access token (for EventSource / WebSocket URLs, which cannot carry headers). */
  async token(): Promise<string | undefined> {
    if (this.access && Date.now() < this.expiresAt - 30_000) return this.access;
    if (!(await this.refresh())) return undefined;
    return this.access;
  }

  onSignedOut(fn: Listener): () => void {
    this.signedOut.add(fn);
    return () => this.signedOut.delete(fn);
  }

  setSession(pair: TokenPair): void {
    this.access = pair.access_token;
    this.expiresAt = Date.now() + pair.expires_in * 1000;
    this.storage.setItem(REFRESH_KEY, pair.refresh_token);
  }

  clear(): void {
    this.access = undefined;
    this.expiresAt = 0;
    this.storage.removeItem(REFRESH_KEY);
  }

  async login(username: string, password: string): Promise<TokenPair> {
    const pair = await this.raw<TokenPair>('POST', '/api/v1/auth/login', { username, password });
    this.setSession(pair);
    return pair;
  }

  async logout(): Promise<void> {
    const refresh = this.storage.getItem(REFRESH_KEY);
    try {
      if (this.access) await this.raw('POST', '/api/v1/auth/logout', refresh ? { refresh_token: refresh } : undefined);
    } catch {
      // Signing out locally is what matters; the server session expires on its own.
    }
    this.clear();
    this.signedOut.forEach((fn) => fn());
  }

  /** One refresh at a time: parallel requests that all see an expired token share it. */
  refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      const token = this.storage.getItem(REFRESH_KEY);
      if (!token) return false;
      try {
        this.setSession(await this.raw<TokenPair>('POST', '/api/v1/auth/refresh', { refresh_token: token }));
        return true;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          this.clear();
          this.signedOut.forEach((fn) => fn());
        }
        return false;
      }
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
    headers?: Record<string, string>,
  ): Promise<T> {
    const token = await this.token();
    try {
      return await this.raw<T>(method, path, body, token, signal, headers);
    } catch (err) {
      // The token may have been revoked or expired between our check and the server's.
      if (err instanceof ApiError && err.status === 401 && token && (await this.refresh())) {
        return this.raw<T>(method, path, body, this.access, signal, headers);
      }
      throw err;
    }
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, signal);
  }
  post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return this.request<T>('POST', path, body, undefined, headers);
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }
  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  private async raw<T>(
    method: string,
    path: string,
    body?: unknown,
    token: string | undefined = this.access,
    signal?: AbortSignal,
    extra?: Record<string, string>,
  ): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...extra };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(path, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError(0, 'NETWORK', 'The server cannot be reached. Check your connection and try again.');
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? res.statusText, e?.details);
    }
    return parsed as T;
  }
}

export const api = new ApiClient();

/** Query string from an object, skipping empty values. */
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '');
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}` : '';
}
