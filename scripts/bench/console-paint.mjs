// The console with 10,000 stored messages, on loopback: how long the relay takes to serve each page's HTML whole, and
// the first paint in a real browser. One connected home seeded with CONSOLE_MESSAGES interactions (seed.mjs), a relay
// on it, then each page ROUNDS times in rotating order over HTTP; then headless Debian Chromium (playwright-core, no
// browser download) signs in with the console token and navigates to each view PAINT_ROUNDS times in rotating order
// after a warm-up round, reading the page's own paint and navigation timing. Medians and the worst. In the same
// rounds the same browser paints a blank page (a heading, a stylesheet and a deferred script, from a bare loopback
// server): the browser's own floor on this machine, against which the console's part can be read. Without
// /usr/bin/chromium the paint part says so and is left out.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RELAY_ARGS } from './load.mjs';
import { LUMEN, removeTemporaryDir, runProcess, startServer } from './processes.mjs';
import { seedInteractions } from './seed.mjs';
import { median } from './stats.mjs';

export const CONSOLE_MESSAGES = 10_000;
const ROUNDS = 20;
const PAINT_ROUNDS = 5;
export const CHROMIUM = '/usr/bin/chromium';
// What headless Chromium needs on this machine (as test/integration/console-browser.test.ts launches it).
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function consolePaint({ newHome, keep, log }) {
  const h = await newHome();
  let relay;
  try {
    seedInteractions(join(h.home, 'lumen.db'), h.integrationId, { count: CONSOLE_MESSAGES, senders: 1000, spanSeconds: 86400 });
    relay = await startServer([LUMEN, ...RELAY_ARGS], { env: h.env });
    const opened = await runProcess([LUMEN, 'console', '--no-open', '--json'], { env: h.env });
    const { url } = JSON.parse(opened.stdout);
    const token = new URL(url).searchParams.get('token');
    const origin = new URL(url).origin;
    const headers = { authorization: `Bearer ${token}` };
    // A conversation with a busy sender (10 messages a sender): the thread view's first page.
    const list = await fetch(`${origin}/console/conversations`, { headers }).then((r) => r.text());
    const thread = /href="(\/console\/conversations\/[^"]+)"/.exec(list)?.[1];
    const pages = {
      live: '/console',
      conversations: '/console/conversations',
      approvals: '/console/approvals',
      events: '/console/events',
      templates: '/console/templates',
      relayView: '/console/relay',
    };
    if (thread) pages.thread = thread.replace(/&amp;/g, '&');
    const times = Object.fromEntries(Object.keys(pages).map((k) => [k, []]));
    const failures = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [name, path] of Object.entries(pages)) {
        const started = performance.now();
        const response = await fetch(`${origin}${path}`, { headers });
        const body = await response.text();
        times[name].push(performance.now() - started);
        if (response.status !== 200 || body.length === 0) failures.push(`${path}: ${response.status}`);
      }
    }
    const result = {};
    for (const [name, list] of Object.entries(times)) result[name] = { path: pages[name], medianMs: median(list), maxMs: Math.max(...list) };
    log(`  console pages (HTML): ${Object.entries(result).map(([n, r]) => `${n} ${r.medianMs.toFixed(1)} ms`).join(', ')}`);
    const paint = await browserPaint({ url, origin, pages, failures, log });
    if (paint.skipped) log(`  first paint not measured: ${paint.skipped}`);
    else {
      for (const [name, p] of Object.entries(paint.pages)) result[name].paint = p;
      log(`  console first contentful paint: ${Object.entries(paint.pages).map(([n, p]) => `${n} ${p.fcp.medianMs.toFixed(0)} ms`).join(', ')}; a blank page ${paint.blank.fcp.medianMs.toFixed(0)} ms`);
    }
    return { messages: CONSOLE_MESSAGES, rounds: ROUNDS, paintRounds: PAINT_ROUNDS, browser: paint.browser, paintSkipped: paint.skipped, pages: result, blankPage: paint.blank, failures };
  } finally {
    await relay?.stop();
    if (!keep) removeTemporaryDir(h.home);
  }
}

/**
 * Each view in headless Chromium: a fresh profile, the token exchanged for the cookie as a person's first visit does,
 * a warm-up round (the CSS and script cached, as after any first visit), then PAINT_ROUNDS rounds in rotating order.
 * Per navigation the page's own clock: first-paint and first-contentful-paint (performance.getEntriesByType('paint'))
 * and the navigation timing (response end, DOMContentLoaded, load, the HTML's bytes), all from the navigation's start.
 */
async function browserPaint({ url, origin, pages, failures, log }) {
  if (!existsSync(CHROMIUM)) return { skipped: `${CHROMIUM} is not installed (apt-get install chromium)` };
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (error) {
    return { skipped: `playwright-core cannot be loaded: ${error.message.split('\n')[0]}` };
  }
  const profile = mkdtempSync(join(tmpdir(), 'lumen-bench-chromium-'));
  let context;
  const blank = await blankPageServer();
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true, viewport: { width: 1200, height: 800 } });
    const browser = `Chromium ${context.browser()?.version() ?? ''}`.trim();
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
    const signIn = await page.goto(url, { waitUntil: 'load' });
    if (!signIn?.ok()) throw new Error(`signing in to the console answered ${signIn?.status()}`);
    const targets = { ...Object.fromEntries(Object.entries(pages).map(([name, path]) => [name, `${origin}${path}`])), blank: blank.url };
    const samples = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    for (let round = 0; round <= PAINT_ROUNDS; round += 1) {
      for (const [name, target] of Object.entries(targets)) {
        const path = new URL(target).pathname;
        const response = await page.goto(target, { waitUntil: 'load' });
        if (response?.status() !== 200) failures.push(`${path} in Chromium: ${response?.status()}`);
        // The paint entries are written when the frame is presented, which can come just after the load event.
        await page.waitForFunction(() => performance.getEntriesByType('paint').length >= 2, undefined, { timeout: 10_000 });
        const timing = await page.evaluate(() => {
          const paint = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]));
          const [nav] = performance.getEntriesByType('navigation');
          return {
            firstPaint: paint['first-paint'],
            fcp: paint['first-contentful-paint'],
            responseEnd: nav.responseEnd,
            domContentLoaded: nav.domContentLoadedEventEnd,
            load: nav.loadEventEnd,
            htmlBytes: nav.decodedBodySize,
          };
        });
        if (round > 0) samples[name].push(timing);
      }
    }
    const summary = (list, key) => ({ medianMs: median(list.map((t) => t[key])), maxMs: Math.max(...list.map((t) => t[key])) });
    const result = {};
    for (const [name, list] of Object.entries(samples)) {
      result[name] = {
        firstPaint: summary(list, 'firstPaint'),
        fcp: summary(list, 'fcp'),
        responseEnd: summary(list, 'responseEnd'),
        domContentLoaded: summary(list, 'domContentLoaded'),
        load: summary(list, 'load'),
        htmlBytes: Math.max(...list.map((t) => t.htmlBytes)),
      };
    }
    const { blank: floor, ...views } = result;
    return { browser, pages: views, blank: floor };
  } catch (error) {
    log(`  Chromium: ${error.message.split('\n')[0]}`);
    throw error;
  } finally {
    await context?.close();
    blank.server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** The floor: a page with nothing to render but a heading, shaped like the console's (a stylesheet, a deferred script). */
async function blankPageServer() {
  const server = createServer((request, response) => {
    if (request.url === '/blank.css') return response.writeHead(200, { 'content-type': 'text/css', 'cache-control': 'max-age=3600' }).end('body{font-family:system-ui,sans-serif}');
    if (request.url === '/blank.js') return response.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'max-age=3600' }).end('void 0;');
    response
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>blank</title><link rel="stylesheet" href="/blank.css"><script src="/blank.js" defer></script></head><body><h1>Blank</h1></body></html>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/blank` };
}
