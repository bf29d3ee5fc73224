/**
 * The console in a real browser: Debian's Chromium, headless, driven by playwright-core (no browser download),
 * against the real relay on 127.0.0.1 with the sandbox as Meta. It loads with no console errors and no failed
 * requests; a delivery arrives in the live feed as it happens; a reply typed in the thread reaches the sandbox and
 * shows its ticks as the statuses come back; the template form refuses a missing parameter; approve and replay work;
 * a wrong or missing token gets 401. A screenshot of each view is saved (CONSOLE_SCREENSHOTS=dir keeps them).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { triggerPayload, postTrigger } from '../../src/services/webhooks/trigger.js';
import { consoleSetup, type ConsoleSetup } from '../helpers/console.js';
import { startForwardTarget, type ForwardTarget } from '../helpers/relay.js';
import { eventually } from '../helpers/async.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const CUSTOMER = '15551234567';
const available = existsSync(CHROMIUM);
if (!available) console.warn(`console-browser tests skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

describe.skipIf(!available)('the console in headless Chromium', () => {
  let sandbox: SandboxHandle;
  let setup: ConsoleSetup;
  let target: ForwardTarget;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let consoleUrl: string;
  const shots = process.env.CONSOLE_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), 'lumen-console-shots-'));
  const problems: string[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox({ webhookDelayMs: 20 });
    setup = await consoleSetup(sandbox);
    // Your code fails the first delivery, so there is something to replay.
    target = await startForwardTarget((i) => (i === 0 ? 500 : 200));
    const relay = await setup.start({ forwardTo: target.url });
    consoleUrl = relay.console!.url;
    mkdirSync(shots, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'lumen-chromium-'));
    const { chromium } = await import('playwright-core');
    // A fresh profile (--user-data-dir) for this run only.
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: FLAGS, headless: true, viewport: { width: 1200, height: 800 } });
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => {
      // The live stream is cut when a page is left, and a request still loading is abandoned (ERR_ABORTED) when the
      // page moves on (the live view reloads a thread as its messages change): neither is a failure.
      const abandoned = request.failure()?.errorText === 'net::ERR_ABORTED';
      if (!request.url().endsWith('/console/stream') && !abandoned) problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
    });
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`);
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await setup?.close();
    await target?.close();
    await sandbox?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (!process.env.CONSOLE_SCREENSHOTS) rmSync(shots, { recursive: true, force: true });
  });

  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  it('a wrong or missing token gets 401', async () => {
    // Before signing in (no cookie yet), on a page of its own.
    const stranger = await context.newPage();
    const origin = new URL(consoleUrl).origin;
    expect((await stranger.goto(`${origin}/console`))!.status()).toBe(401);
    expect((await stranger.goto(`${origin}/console?token=ct_guess`))!.status()).toBe(401);
    await stranger.close();
  });

  it('loads with no errors, and a delivery sent with lumen trigger appears in the live feed', async () => {
    await page.goto(consoleUrl);
    expect(new URL(page.url()).search).toBe(''); // the token left the address bar for a cookie
    // Once the stream is open, a delivery shows as it arrives.
    await page.locator('#live-state', { hasText: /^live$/ }).waitFor();
    const payload = await triggerPayload(setup.services, setup.integration, {
      what: 'message',
      from: CUSTOMER,
      name: 'Ana',
      type: 'text',
      text: 'Hello from the feed <b>bold?</b>',
    });
    const result = await postTrigger(setup.services, setup.integration, `${setup.relay!.url}/webhooks/whatsapp/${setup.integration.id}`, payload);
    expect(result.status).toBe(200);
    const row = page.locator('#feed tr', { hasText: 'Hello from the feed <b>bold?</b>' });
    await row.waitFor();
    await expect.poll(() => row.locator('.tag').textContent()).toBe('message');
    await shot('live');
    await row.locator('a').click();
    await page.locator('h1', { hasText: 'Delivery' }).waitFor();
    expect(await page.locator('pre.body').textContent()).toContain('Hello from the feed <b>bold?</b>');
    await shot('delivery');
    expect(problems).toEqual([]);
  });

  it('a reply typed in the conversation reaches the sandbox and shows its ticks as the statuses arrive', async () => {
    await page.goto(`${new URL(consoleUrl).origin}/console/conversations`);
    await shot('conversations');
    await page.locator('.contacts a', { hasText: 'Ana' }).click();
    await page.locator('#window.open').waitFor();
    await page.locator('#reply textarea').fill('Thanks, Ana!');
    await page.locator('#reply button').click();
    await page.locator('.notice', { hasText: 'Sent' }).waitFor();
    await eventually(() => expect(sandbox.sent(CUSTOMER).map((s) => (s.body as any).text?.body)).toContain('Thanks, Ana!'));
    // The thread follows the status webhooks live: sent, delivered, then read.
    await page.locator('.bubble.out .tick[data-state="read"]').waitFor({ timeout: 60_000 });
    await shot('conversation');
    expect(problems).toEqual([]);
  });

  it('the template form refuses a missing parameter', async () => {
    const thread = page.url().split('?')[0]!;
    await page.goto(`${thread}?template=${encodeURIComponent('order_update|en_US')}`);
    const form = page.locator('#template-form');
    const inputs = form.locator('input[name="param"]');
    expect(await inputs.count()).toBe(4);
    await inputs.nth(0).fill('#42');
    await inputs.nth(1).fill('Ana');
    await inputs.nth(3).fill('TRACK42');
    const sendsBefore = sandbox.sent(CUSTOMER).length;
    await form.locator('button').click();
    // The browser refuses to submit a required field left blank; the page stays, nothing is sent.
    expect(await inputs.nth(2).evaluate((input) => (input as unknown as { validity: { valueMissing: boolean } }).validity.valueMissing)).toBe(true);
    expect(await page.locator('.notice').count()).toBe(0);
    expect(sandbox.sent(CUSTOMER)).toHaveLength(sendsBefore);
    await shot('template-form');
  });

  it('approve works: a held reply is approved in the console and sent', async () => {
    await setup.store.workspaces.setApprovalPolicy(setup.integration.workspaceId, 'all');
    const thread = page.url().split('?')[0]!;
    await page.goto(thread);
    await page.locator('#reply textarea').fill('This one needs a yes');
    await page.locator('#reply button').click();
    await page.locator('.notice', { hasText: 'waiting for approval' }).waitFor();
    await page.locator('.tick.held', { hasText: 'waiting for approval' }).waitFor();
    await page.locator('nav a', { hasText: 'Approvals' }).click();
    await shot('approvals');
    await page.locator('.approvals li', { hasText: 'This one needs a yes' }).locator('button', { hasText: 'Approve' }).click();
    await page.locator('.notice', { hasText: 'Approved and sent' }).waitFor();
    await eventually(() => expect(sandbox.sent(CUSTOMER).map((s) => (s.body as any).text?.body)).toContain('This one needs a yes'));
    await setup.store.workspaces.setApprovalPolicy(setup.integration.workspaceId, 'none');
    expect(problems).toEqual([]);
  });

  it('replay works: the failed delivery to your code is sent again with edited JSON', async () => {
    await eventually(() => expect(target.requests.length).toBeGreaterThanOrEqual(1));
    await page.goto(`${new URL(consoleUrl).origin}/console/events`);
    await shot('your-code');
    await page.locator('table a').first().click();
    const json = page.locator('#replay textarea');
    const edited = JSON.parse((await json.inputValue()) || '{}');
    edited.text = 'edited in the console';
    await json.fill(JSON.stringify(edited));
    await page.locator('#replay button').click();
    await page.locator('.notice', { hasText: 'Delivered to' }).waitFor();
    expect(JSON.parse(target.accepted().at(-1)!.body).text).toBe('edited in the console');
    await shot('event');
    expect(problems).toEqual([]);
  });

  it('templates and relay views load', async () => {
    await page.goto(`${new URL(consoleUrl).origin}/console/templates`);
    await page.locator('td', { hasText: 'order_update' }).first().waitFor();
    await shot('templates');
    await page.goto(`${new URL(consoleUrl).origin}/console/relay`);
    await page.locator('#uptime').waitFor();
    await shot('relay');
    expect(problems).toEqual([]);
  });
});
