// Callbacks passed to page.evaluate run in the browser.
/// <reference lib="dom" />
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** beforeAll may build the UI (tens of seconds on a loaded two-core machine) and then start a server. */
export const BUILD_TIMEOUT_MS = 300_000;
const shotsDir = path.join(root, 'test-results', 'e2e');

/** Debian's Chromium (never a downloaded one): CLARION_TEST_CHROMIUM, else /usr/bin/chromium if present. */
export function chromiumPath(): string | undefined {
  const given = process.env.CLARION_TEST_CHROMIUM;
  const p = given || '/usr/bin/chromium';
  if (fs.existsSync(p)) return p;
  const msg = `Chromium not found at ${p}: browser tests ${process.env.CLARION_TEST_REQUIRE_SERVICES === '1' ? 'FAIL' : 'are skipped'} (apt-get install chromium, or set CLARION_TEST_CHROMIUM).`;
  if (process.env.CLARION_TEST_REQUIRE_SERVICES === '1') throw new Error(msg);
  console.warn(msg);
  return undefined;
}

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

/**
 * Builds the UI from the current sources into test-results/web-<hash of the sources>, once, and returns
 * that folder. Tests serve their own build (`web_dir`), so a `npm run build` elsewhere rewriting dist/web
 * never pulls files from under a running test. The build goes to a temporary folder renamed into place,
 * so parallel test files (or processes) either find a complete build or make their own.
 */
export async function ensureWebBuilt(): Promise<string> {
  const hash = createHash('sha256');
  for (const f of [...sourceFiles(path.join(root, 'web')), path.join(root, 'package-lock.json')]) {
    hash.update(path.relative(root, f)).update(fs.readFileSync(f));
  }
  const id = hash.digest('hex').slice(0, 16);
  const dir = path.join(root, 'test-results', `web-${id}`);
  if (fs.existsSync(path.join(dir, 'index.html'))) return dir;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  // Builds of older sources pile up while the UI is being worked on; one built over a day ago is no one's now.
  for (const old of fs.readdirSync(path.dirname(dir))) {
    const p = path.join(path.dirname(dir), old);
    if (/^web-/.test(old) && Date.now() - fs.statSync(p).mtimeMs > 86_400_000)
      fs.rmSync(p, { recursive: true, force: true });
  }
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  const vite = path.join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      [vite, 'build', '--config', 'web/vite.config.ts', '--outDir', tmp, '--emptyOutDir', '--logLevel', 'warn'],
      // NODE_ENV=test (set by vitest) would make a development build.
      { cwd: root, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NODE_ENV: 'production' } },
      (err, _stdout, stderr) => (err ? reject(new Error(`web UI build failed: ${stderr || err.message}`)) : resolve()),
    );
  });
  try {
    fs.renameSync(tmp, dir);
  } catch {
    // Another worker renamed its identical build into place first.
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

export async function launch(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

export interface BrowserPage {
  context: BrowserContext;
  page: Page;
  /** Console errors and failed page scripts: a test ends by checking there were none. */
  errors: string[];
}

export async function openPage(browser: Browser, baseURL: string): Promise<BrowserPage> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // Generous: the suite shares two cores with the rest of the tests.
  page.setDefaultTimeout(15_000);
  page.setDefaultNavigationTimeout(30_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // 4xx answers the UI handles (a missing module's 404) are logged by Chromium as resource errors.
    // A server without the WebSocket hub answers /ws with 404; the page then says "not live".
    const expected = /Failed to load resource|WebSocket connection to .* Unexpected response code: 404/;
    if (m.type() === 'error' && !expected.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return { context, page, errors };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: path.join(shotsDir, `${name.replace(/[^A-Za-z0-9_-]+/g, '-')}.png`), fullPage: true });
}

export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Signed in once the tab holds its refresh token; navigating before that would cancel the request.
  await page.waitForFunction(() => sessionStorage.getItem('clarion.refresh') !== null);
}

/**
 * One page per test: `open` makes it, `finish` (from afterEach) saves the screenshot of its last page under
 * `<prefix>-<test name>` and closes its context.
 */
export function pagePerTest(prefix: string) {
  let current: BrowserPage | undefined;
  return {
    open: async (browser: Browser, baseURL: string): Promise<BrowserPage> =>
      (current = await openPage(browser, baseURL)),
    async finish(testName: string): Promise<void> {
      if (!current) return;
      const { page, context } = current;
      current = undefined;
      await screenshot(page, `${prefix}-${testName}`);
      await context.close();
    },
  };
}
