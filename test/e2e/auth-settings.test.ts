// Callbacks passed to page.evaluate run in the browser.
/// <reference lib="dom" />
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { chromiumPath, ensureWebBuilt, launch, pagePerTest, signIn, BUILD_TIMEOUT_MS } from './browser.js';

const chromium = chromiumPath();

describe.skipIf(!chromium)('web UI: sign in, session, settings', { timeout: 120_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  const pages = pagePerTest('auth-settings');

  beforeAll(async () => {
    server = await startTestServer({ config: { web_dir: await ensureWebBuilt() } });
    browser = await launch(chromium!);
  }, BUILD_TIMEOUT_MS);
  afterEach(async (ctx) => pages.finish(ctx.task.name));
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const open = () => pages.open(browser, server.url);

  it('signs in and lands on the dashboard, which survives a reload', async () => {
    const { page, errors } = await open();
    await page.goto('/');
    await page.waitForURL('**/login');
    await page.getByLabel('Username or email').fill(server.admin.username);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Wrong username or password');

    await signIn(page, server.admin.username, server.admin.password);
    await page.getByRole('heading', { name: `Welcome, ${server.admin.username}` }).waitFor();
    await page.getByTestId('health').getByText('ok').first().waitFor();
    expect(await page.getByTestId('current-user').textContent()).toBe(server.admin.username);

    // A reload rotates the refresh token kept in sessionStorage and keeps the user on the page.
    const before = await page.evaluate(() => sessionStorage.getItem('clarion.refresh'));
    await page.goto('/settings/system');
    await page.reload();
    await page.getByTestId('system-info').getByText('sqlite').waitFor();
    const after = await page.evaluate(() => sessionStorage.getItem('clarion.refresh'));
    expect(after).toBeTruthy();
    expect(after).not.toBe(before);
    expect(errors).toEqual([]);
  });

  it('a reload that cuts off the token refresh keeps the user signed in', async () => {
    const { page, errors } = await open();
    await signIn(page, server.admin.username, server.admin.password);
    await page.getByRole('heading', { name: /Welcome/ }).waitFor();
    let cut = false;
    await page.route('**/api/v1/auth/refresh', async (route) => {
      if (cut) return route.continue();
      cut = true;
      // The server rotates the token, but the page reloads before the answer arrives.
      await route.fetch();
      void page.reload();
    });
    await page.reload();
    await page.getByRole('heading', { name: /Welcome/ }).waitFor();
    expect(cut).toBe(true);
    await page.goto('/settings/system');
    await page.getByTestId('system-info').getByText('sqlite').waitFor();
    expect(errors).toEqual([]);
  });

  it('returns to the deep link after signing in, and never to another site', async () => {
    const { page } = await open();
    await page.goto('/settings/api-keys');
    await page.waitForURL(/\/login\?next=%2Fsettings%2Fapi-keys/);
    await page.getByLabel('Username or email').fill(server.admin.username);
    await page.getByLabel('Password').fill(server.admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/settings/api-keys');

    await page.evaluate(() => sessionStorage.clear());
    await page.goto('/login?next=//evil.example/x');
    await page.getByLabel('Username or email').fill(server.admin.username);
    await page.getByLabel('Password').fill(server.admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /Welcome/ }).waitFor();
    expect(new URL(page.url()).host).toBe(new URL(server.url).host);
  });

  it('creates an API key that is shown once and works', async () => {
    const { page, errors } = await open();
    await signIn(page, server.admin.username, server.admin.password);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByText('No API keys yet').waitFor();
    await page.getByRole('button', { name: 'New API key' }).click();
    // The form says what is wrong before anything is sent.
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByText('Give the key a name').waitFor();
    await page.getByLabel('Name').fill('nightly report');
    await page.getByLabel('Expires after (days)').fill('30');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.getByTestId('new-api-key').textContent())!.trim();
    expect(key).toMatch(/^clk_/);

    const me = await server.request('GET', '/api/v1/auth/me', { token: key });
    expect(me.status).toBe(200);
    expect(me.body.via).toBe('api_key');

    await page.getByRole('button', { name: 'Done' }).click();
    const row = page.getByRole('row', { name: /nightly report/ });
    await row.waitFor();
    expect(await page.content()).not.toContain(key);
    expect(await row.textContent()).toContain('active');

    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByText('revoked').waitFor();
    expect((await server.request('GET', '/api/v1/auth/me', { token: key })).status).toBe(401);
    expect(errors).toEqual([]);
  });

  it('makes a user with a generated password choose a new one first', async () => {
    const created = await server.request('POST', '/api/v1/users', {
      token: server.admin.token,
      body: { username: 'newcomer', email: 'newcomer@example.test', role: 'operator' },
    });
    expect(created.status).toBe(201);
    const generated = created.body.password as string;

    const { page, errors } = await open();
    await signIn(page, 'newcomer', generated);
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await page.getByLabel('Current password').fill(generated);
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByLabel('Repeat the new password').fill('short');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Use at least 8 characters.').waitFor();
    await page.getByLabel('New password', { exact: true }).fill('a much better password');
    await page.getByLabel('Repeat the new password').fill('a much better password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('heading', { name: 'Welcome, newcomer' }).waitFor();
    // An operator may see the users but not manage them, nor budgets.
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('link', { name: 'Users & roles' }).click();
    await page.getByRole('row', { name: /newcomer/ }).waitFor();
    expect(await page.getByRole('button', { name: 'Add user' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Budgets' }).count()).toBe(0);
    expect((await server.login('newcomer', 'a much better password')).access_token).toBeTruthy();
    expect(errors).toEqual([]);
  });
});
