import { useEffect, useRef, useState } from 'react';
import { api } from './api';

export type LiveState = 'connecting' | 'open' | 'closed';

/**
 * Subscribes to a channel of the server's WebSocket hub (`/ws`) and calls `onEvent` for each event.
 * Reconnects with backoff; `state` says whether updates are live so pages can say so honestly.
 */
export function useLiveChannel(
  channel: string | undefined,
  onEvent: (event: Record<string, unknown>) => void,
): { state: LiveState } {
  const [state, setState] = useState<LiveState>('connecting');
  const handler = useRef(onEvent);
  handler.current = onEvent;

  useEffect(() => {
    if (!channel) return;
    let ws: WebSocket | undefined;
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const connect = async () => {
      setState('connecting');
      const token = await api.token();
      if (stopped || !token) return;
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      // The token goes in the first message, not the URL, so it never lands in access logs.
      ws = new WebSocket(`${proto}//${location.host}/ws`);
      ws.onopen = () => ws?.send(JSON.stringify({ type: 'auth', token }));
      ws.onmessage = (m) => {
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(String(m.data)) as Record<string, unknown>;
        } catch {
          return;
        }
        if (msg.type === 'ready') ws?.send(JSON.stringify({ type: 'subscribe', channel }));
        else if (msg.type === 'subscribed' && msg.channel === channel) {
          attempt = 0;
          setState('open');
        } else if (msg.type === 'event' && msg.channel === channel)
          handler.current(msg.event as Record<string, unknown>);
      };
      ws.onclose = () => {
        setState('closed');
        if (stopped) return;
        attempt++;
        timer = setTimeout(() => void connect(), Math.min(30_000, 1000 * 2 ** attempt));
      };
    };
    void connect();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      ws?.close();
    };
  }, [channel]);

  return { state };
}
