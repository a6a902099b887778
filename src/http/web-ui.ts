import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/index.js';
import { isServerPath } from './paths.js';

export interface WebUiDeps {
  /** Folder of the built UI (vite output); `index.html` must be in it. */
  dir: string;
}

/** The default place of the built UI: `dist/web` beside the bundled server (also when running from source). */
export function defaultWebDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // Bundled: dist/main.js → dist/web. From source (tsx, tests): src/http → <repo>/dist/web.
  return path.basename(here) === 'dist' ? path.join(here, 'web') : path.resolve(here, '..', '..', 'dist', 'web');
}

function listFiles(root: string): Set<string> {
  const files = new Set<string>();
  const walk = (dir: string, rel: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(path.join(dir, entry.name), r);
      else if (entry.isFile() && !/\.(gz|br)$/.test(entry.name)) files.add(r);
    }
  };
  walk(root, '');
  return files;
}

/**
 * Serves the single-page app: known files from the build folder (hashed assets cached for a year),
 * and `index.html` (never cached) for any other GET that is not a server path, so deep links work.
 * The file set is read once at start; the build folder does not change while the server runs.
 */
export const webUiRoutes: FastifyPluginAsync<WebUiDeps> = async (app, { dir }) => {
  const root = path.resolve(dir);
  // The routes exist either way (the route table lists them); without a build they say how to get one.
  const built = fs.existsSync(path.join(root, 'index.html'));
  if (!built) {
    app.log.warn({ dir: root }, 'web UI not built (no index.html); run `npm run build` to serve it at /');
    const notBuilt = async (req: FastifyRequest, reply: FastifyReply) => {
      const p = req.url.split('?')[0]!;
      if (isServerPath(p)) return reply.callNotFound();
      throw new AppError('ROUTE_NOT_FOUND', 'The web UI is not built on this server: run `npm run build`.');
    };
    app.get('/', { schema: { hide: true } }, notBuilt);
    app.get('/*', { schema: { hide: true } }, notBuilt);
    return;
  }
  const files = listFiles(root);
  await app.register(fastifyStatic, { root, serve: false, preCompressed: true, index: false });

  // no-cache: the browser revalidates (ETag) so a new release is picked up at once.
  const sendIndex = (reply: FastifyReply) =>
    reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });

  app.get('/', { schema: { hide: true } }, async (_req, reply) => sendIndex(reply));
  app.get('/*', { schema: { hide: true } }, async (req, reply) => {
    let p: string;
    try {
      p = decodeURIComponent(req.url.split('?')[0]!);
    } catch {
      return reply.callNotFound();
    }
    if (files.has(p) && p !== '/index.html') {
      const hashed = p.startsWith('/assets/');
      return reply.sendFile(
        p.slice(1),
        hashed ? { maxAge: '365d', immutable: true } : { maxAge: '1h', immutable: false },
      );
    }
    if (isServerPath(p)) return reply.callNotFound();
    // A missing file (a stale hashed asset, /favicon.png) is a 404, not the app's page.
    if (/\.[a-z0-9]{1,8}$/i.test(p)) return reply.callNotFound();
    return sendIndex(reply);
  });
};
