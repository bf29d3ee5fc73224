/**
 * A short run of the relay's bad-input corpus (scripts/fuzz-corpus.mjs, the one `node scripts/fuzz-relay.mjs` sends
 * ≥ 10,000 of) at `lumen relay start` as a child process: no 5xx, the process stays up, every valid delivery
 * interleaved with the garbage is acknowledged and stored, and slowloris connections do not stop it serving.
 * LUMEN_FUZZ_SEED=<n> replays another corpus; a failure prints the seed it ran with.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../../src/relay/signature.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
// The corpus is plain ESM shared with scripts/fuzz-relay.mjs.
import { formatReport, missingFromDb, runFuzz } from '../../scripts/fuzz-corpus.mjs';
import { SAFETY_NET_MS } from '../helpers/async.js';
import { makeHome, withDb, type LumenHome } from '../helpers/home.js';
import { connectNumber, killAllRelays, request, startRelay, type Connection, type RunningRelay } from '../helpers/relay.js';
import { delivery, entry, messagesChange, textMessage, toBody } from '../helpers/webhooks.js';

const SEED = Number(process.env.LUMEN_FUZZ_SEED ?? 20_240_611);
const MiB = 1024 * 1024;

let sandbox: SandboxHandle;
let home: LumenHome;
let connection: Connection;
let relay: RunningRelay;

beforeAll(async () => {
  sandbox = await startSandbox();
  home = makeHome({ sandbox });
  connection = await connectNumber(home.env, sandbox.phoneNumberId, sandbox.wabaId);
  relay = await startRelay(home.env, ['--quiet']);
});
afterAll(async () => {
  await killAllRelays();
  await sandbox.close();
  home.cleanup();
});

describe('the relay under a bad-input corpus', () => {
  it('answers ~500 generated bad requests (and the valid ones among them) without a 5xx, a crash or a lost delivery', async () => {
    // Given a relay, and two connections stalled mid-request (slowloris) for the whole run
    // When the corpus is sent at it, 16 at a time
    const report = await runFuzz({
      url: relay.url,
      integrationId: connection.id,
      phoneNumberId: sandbox.phoneNumberId,
      appSecret: sandbox.appSecret,
      verifyToken: connection.verifyToken,
      pid: relay.pid,
      seed: SEED,
      requests: 500,
      concurrency: 16,
      slowloris: 2,
      slowlorisWaitMs: 0, // the cut-off takes 15–45 s: the full script checks it
      rssSettleMs: 2_000,
      timeoutMs: SAFETY_NET_MS, // per request, a safety net: an unanswered request is a violation
    });
    const summary = `seed ${SEED}\n${formatReport(report)}\n${report.violations.map((v: any) => `[${v.category}] ${v.why} — ${v.request} → ${v.answer}`).join('\n')}`;

    // Then every answer is what that input deserves, none a 5xx
    expect(report.violations, summary).toEqual([]);
    expect(report.requests).toBe(500);
    // …the stalled connections were still open while everything else was served
    expect((report.slowloris as { openDuringRun: number } | null)?.openDuringRun, summary).toBe(2);
    // …each valid delivery (about one in six) got its 200 and is stored once
    expect(report.mustStore.length, summary).toBeGreaterThan(50);
    expect(await missingFromDb(join(home.dir, 'lumen.db'), report.mustStore)).toEqual([]);
    // …the relay is up, reported no internal error, printed no stack, and its memory did not run away (its heap is
    // still growing to its working size over so short a run: the full script checks that RSS comes back flat)
    expect((await request(`${relay.url}/healthz`)).status).toBe(200);
    expect(relay.events.filter((e) => e.event === 'error' || e.event === '__not_json__'), summary).toEqual([]);
    expect(relay.stderr()).not.toMatch(/\n\s+at /);
    const rss = report.rss as { before: number; after: number };
    expect(rss.after - rss.before, summary).toBeLessThan(150 * MiB);
  });

  it('stores, ignores or refuses (4xx) a signed message with a field nested 10,000 deep, never a 500', async () => {
    // Given a valid message carrying one very deep (but small) value: only the app secret's holder can send it
    const wamid = `wamid.DEEP${Date.now()}`;
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    // (spliced in as text: serialising it would recurse 10,000 deep)
    const message = { ...textMessage({ wamid, from: '15550001', body: 'deep' }), extra: '<deep>' };
    const shallow = toBody(delivery(entry([messagesChange(sandbox.phoneNumberId, { messages: [message] })]))).toString();
    const body = Buffer.from(shallow.replace('"<deep>"', deep));
    // When it is delivered
    const answer = await request(`${relay.url}${connection.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(body, sandbox.appSecret) },
      body,
    });
    // Then it is stored, or acknowledged as malformed and ignored, or refused with a 4xx; never a 500, which Meta
    // would retry for days
    expect(answer.status, answer.text).toBeLessThan(500);
    const stored = withDb(home.dir, (db) => db.prepare('SELECT COUNT(*) AS n FROM interactions WHERE wamid = ?').get(wamid)) as { n: number };
    expect(stored.n).toBe(answer.json?.status === 'received' ? 1 : 0);
  });
});
