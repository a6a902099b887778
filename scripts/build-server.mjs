/**
 * Bundles the server (src/main.ts and everything it imports) into dist/main.js with esbuild.
 *
 * Why a bundle: Node 20 resolves, reads and links every module file one by one. Clarion and its dependencies
 * are ~2,000 files (kysely and typebox alone are several hundred), which cost ~2 s of a 3.4 s start; one file
 * starts in well under half of that (docs/benchmarks.md, "startup"). Type checking is `npm run lint`'s job
 * (tsc --noEmit), not the build's.
 *
 * Left in node_modules, loaded at run time: better-sqlite3 (native), pg (loaded only for a PostgreSQL URL),
 * gpt-tokenizer (large; loaded at the first token count) and pino-pretty (a dev dependency).
 *
 * Bundled packages that find files next to their own code (@fastify/swagger-ui's static files, pino's
 * transport worker, ...) read `__dirname` / `__filename`, which an ES module does not have: the plugin below
 * gives each such file the path it has in node_modules, so those files are still found there.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { build } from 'esbuild';

const external = ['better-sqlite3', 'pg', 'gpt-tokenizer', 'pino-pretty'];

/** @type {import('esbuild').Plugin} */
const packageFilePaths = {
  name: 'package-file-paths',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/].*\.c?js$/ }, async (args) => {
      const text = await fs.promises.readFile(args.path, 'utf8');
      if (!/\b__(dirname|filename)\b/.test(text)) return undefined;
      const rel = path.relative(process.cwd(), args.path).split(path.sep).join('/');
      return {
        contents:
          `var __filename = __clarionPath.join(__clarionRoot, ${JSON.stringify(rel)}); ` +
          `var __dirname = __clarionPath.dirname(__filename);\n${text}`,
        loader: 'js',
      };
    });
  },
};

// `node scripts/build-server.mjs [OUTDIR]` (default dist). OUTDIR must be a folder of the package root: the
// bundle finds node_modules one level up. The bundle test (test/integration/bundle.test.ts) builds into its own.
const outdir = process.argv[2] ?? 'dist';

// What an earlier build (or the old tsc output) left beside the bundle must not linger; the web UI's folder
// is vite's (emptied by its own build).
if (fs.existsSync(outdir)) {
  for (const name of fs.readdirSync(outdir)) {
    if (name !== 'web') fs.rmSync(path.join(outdir, name), { recursive: true, force: true });
  }
}

await build({
  entryPoints: ['src/main.ts'],
  outdir,
  // Modules imported with import() (undici: src/net/undici.ts) become chunks beside main.js, loaded when needed.
  splitting: true,
  chunkNames: '[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external,
  plugins: [packageFilePaths],
  sourcemap: true,
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'linked',
  logLevel: 'warning',
  banner: {
    js: [
      // Bundled CommonJS packages call require(); in an ES module it has to be made.
      "import { createRequire as __clarionCreateRequire } from 'node:module';",
      "import __clarionPath from 'node:path';",
      "import { fileURLToPath as __clarionFileURLToPath } from 'node:url';",
      'const require = __clarionCreateRequire(import.meta.url);',
      // dist/main.js → the package root, where node_modules is.
      "const __clarionRoot = __clarionPath.resolve(__clarionPath.dirname(__clarionFileURLToPath(import.meta.url)), '..');",
    ].join('\n'),
  },
});
