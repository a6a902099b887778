import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * Takes the response over from Fastify and opens it as a stream of server-sent events: status 200, the headers
 * the request's hooks set (request id, security headers) and `headers`. Fastify still runs its onResponse hooks
 * (the access line, the metric) when the response ends.
 *
 * Serves the gateway's streamed chat completions, the chat's answers and a run's live events. Before it, the chat's
 * and the run events' streams were opened without the API's security headers.
 */
export function openEventStream(reply: FastifyReply, headers: Record<string, string>): ServerResponse {
  reply.hijack();
  const raw = reply.raw;
  // A client gone mid-write: nothing to answer it with, and the writer sees `destroyed`.
  raw.on('error', () => {});
  raw.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), ...headers });
  return raw;
}

/**
 * Writes a chunk to an open event stream, waiting while the client's buffer is full. Resolves to false once the
 * client is gone (the caller stops producing).
 */
export async function writeEvent(raw: ServerResponse, chunk: string): Promise<boolean> {
  if (raw.destroyed || raw.writableEnded) return false;
  if (raw.write(chunk)) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      raw.off('drain', done);
      raw.off('close', done);
      resolve();
    };
    raw.on('drain', done);
    raw.on('close', done);
  });
  return !raw.destroyed;
}
