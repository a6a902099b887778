/**
 * `npm run bench -- NAME [args]` runs bench/NAME.bench.ts. Each benchmark measures its baseline in the
 * same run, prints its figures, and never fails on a number: budgets are compared in docs/benchmarks.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const available = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort();

const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME\navailable: ${available.join(', ') || '(none)'}`);
  process.exit(name ? 1 : 0);
}
const mod = (await import(pathToFileURL(path.join(dir, `${name}.bench.ts`)).href)) as {
  run: (args: string[]) => Promise<void>;
};
await mod.run(process.argv.slice(3));
