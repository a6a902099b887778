/** Path prefixes answered by the API (JSON, SSE, WebSocket, metrics, webhooks), not by the web UI. */
export const API_PREFIXES = ['/api/', '/v1/', '/hooks/', '/health', '/ready', '/metrics', '/ws'] as const;

/** Path prefixes that belong to the server: the API's and the API docs'. An unknown one is a JSON 404. */
export const SERVER_PREFIXES = [...API_PREFIXES, '/docs'] as const;

/** Whether the path `p` (no query) is the server's: a prefix, or a prefix's own path without its slash. */
export function isServerPath(p: string): boolean {
  return SERVER_PREFIXES.some((s) => p === s.replace(/\/$/, '') || p.startsWith(s));
}

/** Whether `url` (path and query) is one of the API's: it gets API headers rather than a page's. */
export function isApiPath(url: string): boolean {
  return API_PREFIXES.some((p) => url.startsWith(p));
}
