/**
 * `npm run bench -- web [--runs 10]`
 *
 * 1. JavaScript of the first page: every script Chromium fetches to show /login (signed out) and / (the
 *    dashboard, signed in), gzip-compressed at level 9, beside the total of all JS in the build.
 * 2. Dashboard interactive time in headless Chromium: navigation start → the dashboard's figures rendered and
 *    the page answering a click (the theme toggle flips), cold (empty cache) and warm (cached assets, the usual
 *    reload). Baseline in the same run: navigation start → load of a tiny static document (/health).
 * Budgets (docs/benchmarks.md): first-page JS < 300 KB gzipped; dashboard interactive < 1.5 s.
 */
// Callbacks passed to page.evaluate run in the browser.
/// <reference lib="dom" />
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Page } from 'playwright-core';
import { chromiumPath, ensureWebBuilt, launch, signIn } from '../test/e2e/browser.js';
import { startTestServer } from '../test/helpers/test-server.js';
import { argValue, median, table } from './support/processes.js';

const gz = (b: Buffer) => zlib.gzipSync(b, { level: 9 }).length;
const kb = (n: number) => (n / 1024).toFixed(1);
const p90 = (v: number[]) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(v.length * 0.9))]!;

function scriptsOf(page: Page): Set<string> {
  const seen = new Set<string>();
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.pathname.endsWith('.js')) seen.add(u.pathname);
  });
  return seen;
}

function sizeOf(webDist: string, paths: Iterable<string>): { raw: number; gzip: number } {
  let raw = 0;
  let gzip = 0;
  for (const p of paths) {
    const b = fs.readFileSync(path.join(webDist, p));
    raw += b.length;
    gzip += gz(b);
  }
  return { raw, gzip };
}

/** ms from navigation start until the dashboard shows figures and reacts to a click. */
async function dashboardInteractive(page: Page): Promise<number> {
  await page.goto('/', { waitUntil: 'commit' });
  await page.waitForFunction(() => {
    const el = document.querySelector('[data-testid="dashboard-stats"]');
    return !!el && !el.textContent?.includes('…');
  });
  return page.evaluate(async () => {
    const html = document.documentElement;
    const before = html.classList.contains('dark');
    (document.querySelector('button[aria-label^="Use "]') as HTMLButtonElement).click();
    while (html.classList.contains('dark') === before) await new Promise((r) => requestAnimationFrame(r));
    const t = performance.now();
    (document.querySelector('button[aria-label^="Use "]') as HTMLButtonElement).click(); // restore the theme
    return t;
  });
}

export async function run(args: string[]): Promise<void> {
  const runs = Number(argValue(args, '--runs') ?? 10);
  const exe = chromiumPath();
  if (!exe) throw new Error('Chromium is needed: apt-get install chromium (or set CLARION_TEST_CHROMIUM)');
  const webDist = await ensureWebBuilt();
  const server = await startTestServer({ config: { web_dir: webDist } });
  const browser = await launch(exe);
  try {
    // 1. First-page JavaScript.
    const ctx = await browser.newContext({ baseURL: server.url });
    const page = await ctx.newPage();
    const loginJs = scriptsOf(page);
    await page.goto('/login');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    const login = sizeOf(webDist, loginJs);
    const loginCount = loginJs.size;
    await signIn(page, server.admin.username, server.admin.password);
    await page.getByTestId('dashboard-stats').waitFor();
    await page.waitForLoadState('networkidle');
    const dash = sizeOf(webDist, loginJs);
    const all = sizeOf(
      webDist,
      fs
        .readdirSync(path.join(webDist, 'assets'))
        .filter((f) => f.endsWith('.js'))
        .map((f) => `/assets/${f}`),
    );
    console.log('\nJavaScript loaded for the first page (gzip -9):');
    console.log(
      table(
        ['page', 'scripts', 'raw KB', 'gzip KB', 'budget'],
        [
          ['/login (signed out)', loginCount, kb(login.raw), kb(login.gzip), '< 300 KB'],
          ['/login then / (dashboard)', loginJs.size, kb(dash.raw), kb(dash.gzip), '< 300 KB'],
          ['every page (whole build)', '-', kb(all.raw), kb(all.gzip), '-'],
        ],
      ),
    );

    // 2. Interactive time. The session lives in this tab's sessionStorage: each reload refreshes it.
    const baseline: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      await page.goto('/health');
      const b = await page.evaluate(() => performance.getEntriesByType('navigation')[0]!.duration || performance.now());
      const w = await dashboardInteractive(page);
      if (i === 0) continue; // warm-up
      baseline.push(b);
      warm.push(w);
    }
    // Cold: a fresh context (empty cache) signed in through the API, one tab per run.
    const cold: number[] = [];
    for (let i = 0; i < Math.min(runs, 5); i++) {
      const c = await browser.newContext({ baseURL: server.url });
      const p = await c.newPage();
      await p.goto('/login');
      await signIn(p, server.admin.username, server.admin.password);
      await p.getByTestId('dashboard-stats').waitFor();
      await c.clearCookies();
      // A new page in a new context has an empty HTTP cache; carry the tab's session over.
      const refresh = await p.evaluate(() => sessionStorage.getItem('clarion.refresh'));
      await c.close();
      const c2 = await browser.newContext({ baseURL: server.url });
      await c2.addInitScript((t) => {
        if (!sessionStorage.getItem('clarion.refresh')) sessionStorage.setItem('clarion.refresh', t);
      }, refresh!);
      const p2 = await c2.newPage();
      cold.push(await dashboardInteractive(p2));
      await c2.close();
    }
    console.log('\nDashboard: navigation start → figures shown and a click answered (ms):');
    console.log(
      table(
        ['case', 'runs', 'median', 'p90', 'budget'],
        [
          [
            'baseline: tiny static document (/health)',
            baseline.length,
            median(baseline).toFixed(0),
            p90(baseline).toFixed(0),
            '-',
          ],
          [
            'dashboard, warm (cached assets, reload)',
            warm.length,
            median(warm).toFixed(0),
            p90(warm).toFixed(0),
            '< 1500',
          ],
          ['dashboard, cold (empty cache)', cold.length, median(cold).toFixed(0), p90(cold).toFixed(0), '< 1500'],
        ],
      ),
    );
    await ctx.close();
  } finally {
    await browser.close();
    await server.close();
  }
}
