// Callbacks passed to page.evaluate run in the browser.
/// <reference lib="dom" />
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { chromiumPath, ensureWebBuilt, launch, pagePerTest, signIn, BUILD_TIMEOUT_MS } from './browser.js';

const chromium = chromiumPath();

const hello = `name: hello-e2e
description: greets and pauses
inputs:
  who: { type: string, required: true }
steps:
  - id: greet
    uses: transform
    with:
      text: "Hello, \${{ inputs.who }}"
  - id: pause
    needs: [greet]
    uses: delay
    with: { duration: 300ms }
  - id: shout
    needs: [greet]
    uses: transform
    with:
      text: "\${{ steps.greet.output.text + '!' }}"
outputs:
  text: \${{ steps.shout.output.text }}
`;

describe.skipIf(!chromium)('web UI: workflows and runs', { timeout: 120_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  const pages = pagePerTest('workflows');

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

  it('writes a workflow in the editor, runs it and watches its steps turn green live', async () => {
    const { page, errors } = await open();
    await signIn(page, server.admin.username, server.admin.password);
    await page.getByRole('link', { name: 'Workflows' }).click();
    await page.getByText('No workflows yet').waitFor();
    await page.getByRole('link', { name: 'New workflow' }).click();

    const editor = page.getByTestId('yaml-editor').locator('.cm-content');
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(hello.replace('needs: [greet]\n    uses: delay', 'needs: [ghost]\n    uses: delay'));
    // The mistake is shown at its line, and the workflow cannot be saved until it is fixed.
    await page.getByTestId('issues').getByText('Line 11:').waitFor();
    expect(await page.getByTestId('issues').textContent()).toContain('"ghost"');
    expect(await page.getByRole('button', { name: 'Save' }).isDisabled()).toBe(true);

    // A mistake only the server knows (an unknown field) comes back from Save at its line too.
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(
      hello.replace(
        '    uses: transform\n    with:\n      text: "Hello',
        '    uses: transform\n    colour: red\n    with:\n      text: "Hello',
      ),
    );
    await page.getByText('3 steps, no problems found.').waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await page
      .getByTestId('issues')
      .getByText(/Line \d+:/)
      .waitFor();
    expect(await page.getByTestId('issues').textContent()).toContain('colour');
    expect(page.url()).toMatch(/\/workflows\/new$/);

    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(hello);
    await page.getByText('3 steps, no problems found.').waitFor();
    for (const id of ['greet', 'pause', 'shout']) await page.getByTestId(`step-${id}`).waitFor();

    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(/\/workflows\/[0-9a-f-]{36}$/);
    await page.getByText('v1', { exact: true }).waitFor();

    await page.getByRole('button', { name: 'Run', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Run hello-e2e' });
    await dialog.getByRole('button', { name: 'Start run' }).click();
    await dialog.getByText('Required.').waitFor();
    await dialog.getByLabel('who *').fill('Ada');
    await dialog.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);

    // Every step ends green; the page was told by the live event stream (or its polling fallback).
    for (const id of ['greet', 'pause', 'shout']) {
      await page.locator(`[data-testid="step-${id}"][data-status="completed"]`).waitFor({ timeout: 15_000 });
    }
    await page.getByText('completed', { exact: true }).first().waitFor();
    await page.getByText('"Hello, Ada!"').waitFor();
    const runId = page.url().split('/').pop()!;
    const api = await server.request('GET', `/api/v1/runs/${runId}`, { token: server.admin.token });
    expect(api.body.status).toBe('completed');
    expect(api.body.outputs).toEqual({ text: 'Hello, Ada!' });
    expect(errors).toEqual([]);
  });

  it('cancels a running run from its page', async () => {
    const created = await server.request('POST', '/api/v1/workflows', {
      token: server.admin.token,
      body: { source: 'name: slow-e2e\nsteps:\n  - id: nap\n    uses: delay\n    with: { duration: 60s }\n' },
    });
    expect(created.status).toBe(201);
    const run = await server.request('POST', `/api/v1/workflows/${created.body.id}/runs`, {
      token: server.admin.token,
      body: {},
    });
    expect(run.status).toBe(202);
    const runId = run.body.run_id as string;

    const { page, errors } = await open();
    await signIn(page, server.admin.username, server.admin.password);
    await page.goto(`/runs/${runId}`);
    await page.locator('[data-testid="step-nap"][data-status="running"]').waitFor({ timeout: 15_000 });
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.getByText('cancelled', { exact: true }).first().waitFor({ timeout: 15_000 });
    // The step's "cancelled" can arrive a moment before the run's own status: wait for the run to settle.
    await page.getByRole('button', { name: 'Cancel run' }).waitFor({ state: 'detached', timeout: 15_000 });
    const after = await server.request('GET', `/api/v1/runs/${runId}`, { token: server.admin.token });
    expect(after.body.status).toBe('cancelled');

    // The runs list shows it with its status, and the filter finds it.
    await page.getByRole('link', { name: 'Runs' }).click();
    await page.getByRole('combobox').selectOption('cancelled');
    await page.getByTestId('runs').getByText('slow-e2e').waitFor();
    expect(errors).toEqual([]);
  });
});
