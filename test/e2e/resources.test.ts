// Callbacks passed to page.evaluate run in the browser.
/// <reference lib="dom" />
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { BUILD_TIMEOUT_MS, chromiumPath, ensureWebBuilt, launch, pagePerTest, signIn } from './browser.js';

const chromium = chromiumPath();

describe.skipIf(!chromium)('web UI: targets, agents, memory, chat, analytics', { timeout: 120_000 }, () => {
  let server: TestServer;
  let fake: FakeLlm;
  let browser: Browser;
  const pages = pagePerTest('resources');
  let folder: string;

  beforeAll(async () => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'clarion-e2e-target-'));
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'hello');
    fake = await startFakeLlm({ models: ['gpt-4o-mini'], chunkDelayMs: 30 });
    server = await startTestServer({ config: { web_dir: await ensureWebBuilt() } });
    const p = await server.request('POST', '/api/v1/providers', {
      token: server.admin.token,
      body: { name: 'fake', kind: 'openai', base_url: `${fake.url}/v1`, models: ['gpt-4o-mini'] },
    });
    expect(p.status, p.text).toBe(201);
    browser = await launch(chromium!);
  }, BUILD_TIMEOUT_MS);
  afterEach(async (ctx) => pages.finish(ctx.task.name));
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await fake?.close();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  const open = () => pages.open(browser, server.url);

  it('creates a target and tests its connection, then an agent that uses memory', async () => {
    const { page, errors } = await open();
    await signIn(page, server.admin.username, server.admin.password);
    await page.getByRole('link', { name: 'Targets' }).click();
    await page.getByText('No targets yet').waitFor();
    await page.getByRole('button', { name: 'New target' }).click();
    const dialog = page.getByRole('dialog', { name: 'New target' });
    await dialog.getByLabel('Name').fill('docs');
    await dialog.getByLabel('Folder', { exact: true }).fill('relative/path');
    await dialog.getByRole('button', { name: 'Create target' }).click();
    await dialog.getByText('An absolute folder path').waitFor();
    await dialog.getByLabel('Folder', { exact: true }).fill(folder);
    await dialog.getByRole('button', { name: 'Create target' }).click();
    const row = page.getByRole('row', { name: /docs/ });
    await row.waitFor();
    await row.getByRole('button', { name: 'Test connection' }).click();
    await row.getByText(/connected · \d+ ms/).waitFor();

    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByText('No agents yet').waitFor();
    await page.getByRole('button', { name: 'New agent' }).first().click();
    const agent = page.getByRole('dialog', { name: 'New agent' });
    await agent.getByLabel('Name').fill('helper');
    await agent.getByRole('button', { name: 'Create agent' }).click();
    await agent.getByText('Pick the model').waitFor();
    await agent.getByLabel('Model').fill('fake/gpt-4o-mini');
    await agent.getByLabel('System prompt').fill('You are terse.');
    await agent.getByRole('button', { name: 'Create agent' }).click();
    await page.getByTestId('agents').getByText('helper').waitFor();
    const list = await server.request('GET', '/api/v1/agents', { token: server.admin.token });
    expect(list.body.items.map((a: { name: string; model: string }) => [a.name, a.model])).toEqual([
      ['helper', 'fake/gpt-4o-mini'],
    ]);
    expect(errors).toEqual([]);
  });

  it('adds a document to memory and finds it in the search playground', async () => {
    const { page, errors } = await open();
    await signIn(page, server.admin.username, server.admin.password);
    await page.getByRole('link', { name: 'Memory' }).click();
    await page.getByText('No collections yet').waitFor();
    await page.getByRole('button', { name: 'New collection' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'New collection' });
    await dialog.getByLabel('Name').fill('handbook');
    await dialog.getByRole('button', { name: 'Create collection' }).click();
    await page.getByRole('heading', { name: 'handbook' }).waitFor();
    await page.getByLabel('Add a document').fill('PostgreSQL VACUUM reclaims storage occupied by dead tuples.');
    await page.getByLabel('Metadata (JSON, optional)', { exact: true }).fill('{"source": "dba"}');
    await page.getByRole('button', { name: 'Add document' }).click();
    await page.getByText('Added.').waitFor();
    await page.getByLabel('Add a document').fill('Sourdough needs a lively starter and a long proof.');
    await page.getByLabel('Metadata (JSON, optional)', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Add document' }).click();
    await page.getByText('Added.').waitFor();

    await page.getByLabel('Query').fill('vacuum dead tuples');
    await page.getByLabel('Mode').selectOption('keyword');
    await page.getByRole('button', { name: 'Search' }).click();
    const results = page.getByTestId('search-results');
    await results.getByText('VACUUM reclaims').waitFor();
    expect(await results.locator('li').count()).toBe(1);
    await results.getByText('source: dba').waitFor();
    expect(errors).toEqual([]);
  });

  it('chats with streaming through the fake LLM, and analytics count the usage', async () => {
    const { page, errors } = await open();
    await signIn(page, server.admin.username, server.admin.password);
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByLabel('Talk to').selectOption({ label: 'helper' });
    await page.getByRole('button', { name: 'New chat' }).first().click();
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    await page.getByText('Ask anything to begin.').waitFor();
    await page.getByLabel('Message').fill('what does vacuum do?');
    await page.getByRole('button', { name: 'Send' }).click();
    // While streaming, Stop is offered; the answer ends as the fake upstream's echo.
    await page.getByRole('button', { name: 'Stop' }).waitFor();
    await page
      .locator('[data-role="assistant"][data-status="complete"]')
      .getByText('echo: what does vacuum do?')
      .waitFor();
    expect(fake.callsTo('/v1/chat/completions').some((c) => c.body.stream === true)).toBe(true);

    await page.getByRole('link', { name: 'Analytics' }).click();
    await page.getByTestId('analytics-summary').waitFor();
    await page.getByRole('cell', { name: /gpt-4o-mini/ }).waitFor();
    expect(errors).toEqual([]);
  });
});
