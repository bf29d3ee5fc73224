// The console with 10,000 stored messages: how long the relay takes to serve each page's HTML whole, on loopback.
// The pages are rendered on the server, so this is what stands before the first paint (the page's CSS and script are
// small files served from dist/, cached after the first load). One connected home seeded with CONSOLE_MESSAGES
// interactions (seed.mjs), a relay on it, then each page ROUNDS times in rotating order; medians and the worst.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RELAY_ARGS } from './load.mjs';
import { LUMEN, removeTemporaryDir, runProcess, startServer } from './processes.mjs';
import { seedInteractions } from './seed.mjs';
import { median } from './stats.mjs';

export const CONSOLE_MESSAGES = 10_000;
const ROUNDS = 20;

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
    const pages = { live: '/console', conversations: '/console/conversations', events: '/console/events', templates: '/console/templates', relayView: '/console/relay' };
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
    log(`  console pages: ${Object.entries(result).map(([n, r]) => `${n} ${r.medianMs.toFixed(1)} ms`).join(', ')}`);
    return { messages: CONSOLE_MESSAGES, rounds: ROUNDS, pages: result, failures };
  } finally {
    await relay?.stop();
    if (!keep) removeTemporaryDir(h.home);
  }
}
