import { createRequire } from 'node:module';
import type * as GptTokenizer from 'gpt-tokenizer';

type Tokenizer = typeof GptTokenizer;

const require = createRequire(import.meta.url);
let loaded: Tokenizer | undefined;

/**
 * gpt-tokenizer's merge tables cost ~65 MB and 1–2 s to load. Loading them at the first count instead of at
 * import keeps start-up fast and idle memory low for servers that never count tokens.
 */
export function tokenizer(): Tokenizer {
  return (loaded ??= require('gpt-tokenizer') as Tokenizer);
}

/** Whether this process has loaded the tokenizer's tables (for tests of what loads them). */
export function tokenizerLoaded(): boolean {
  return loaded !== undefined;
}
