#!/usr/bin/env node
/**
 * Fuzzes the webhook relay with ≥ 10,000 generated bad requests (scripts/fuzz-corpus.mjs), valid signed deliveries
 * interleaved, and a few slowloris connections held open throughout. Checks: no 5xx, the relay never dies, every
 * valid delivery answered 200 is stored, slowloris connections are cut off, RSS stays flat. Prints a table by
 * category and exits 1 on any violation.
 *
 *   node scripts/fuzz-relay.mjs [--requests 10000] [--concurrency 16] [--seed N] [--slowloris 3]
 *                               [--slowloris-wait-ms 50000] [--rss-limit-mib 50] [--rss-settle-ms 30000]
 *                               [--max-seconds 900] [--keep]
 *   node scripts/fuzz-relay.mjs --url http://127.0.0.1:8787 --integration wa_… --app-secret … \
 *                               [--phone-number-id …] [--verify-token …] [--pid N] [--db $LUMEN_HOME/lumen.db]
 *
 * Without --url it runs everything itself on 127.0.0.1: a temporary LUMEN_HOME, the sandbox from dist/, `lumen
 * whatsapp connect`, `lumen relay start --port 0 --json --quiet`. Needs `npm run build`. Only loopback URLs.
 */
import { join } from 'node:path';
import { formatReport, missingFromDb, rssOf, runFuzz } from './fuzz-corpus.mjs';
import { connectSandboxNumber, makeHome, parseArgs, startRelayProcess, startSandbox } from './relay-harness.mjs';

const MiB = 1024 * 1024;

async function main() {
  const args = parseArgs(process.argv.slice(2), {
    requests: 10_000,
    concurrency: 16,
    seed: Date.now() % 2 ** 31,
    slowloris: 3,
    // The relay means to cut slow requests off after 15 s; Node checks deadlines every 30 s: 45 s, plus margin.
    slowlorisWaitMs: 50_000,
    rssLimitMib: 50,
    rssSettleMs: 30_000,
    maxSeconds: 900,
    url: '',
    integration: '',
    appSecret: process.env.WHATSAPP_APP_SECRET ?? '',
    phoneNumberId: '106540352242922',
    verifyToken: '',
    pid: 0,
    db: '',
    keep: false,
  });
  if (args.requests < 1 || args.concurrency < 1) throw new Error('--requests and --concurrency must be ≥ 1');
  const watchdog = setTimeout(() => {
    console.error(`fuzz: gave up after --max-seconds ${args.maxSeconds}`);
    process.exit(2);
  }, args.maxSeconds * 1000);
  watchdog.unref();

  let target;
  let cleanup = async () => {};
  if (args.url) {
    const host = new URL(args.url).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) throw new Error('--url must be a loopback address (127.0.0.1)');
    if (!args.integration || !args.appSecret) throw new Error('--url needs --integration and --app-secret (or WHATSAPP_APP_SECRET)');
    target = { url: args.url, integrationId: args.integration, appSecret: args.appSecret, phoneNumberId: args.phoneNumberId, verifyToken: args.verifyToken || undefined, pid: args.pid || undefined, db: args.db || undefined, relay: null };
  } else {
    const sandbox = await startSandbox();
    const home = makeHome();
    const env = { ...home.env, LUMEN_GRAPH_URL: sandbox.url };
    const connection = await connectSandboxNumber(env, sandbox);
    const relay = await startRelayProcess(env, ['--quiet']);
    console.error(`fuzz: relay ${relay.url} (pid ${relay.pid}), LUMEN_HOME ${home.dir}`);
    target = {
      url: relay.url,
      integrationId: connection.id,
      appSecret: sandbox.appSecret,
      phoneNumberId: sandbox.phoneNumberId,
      verifyToken: connection.verifyToken,
      pid: relay.pid,
      db: join(home.dir, 'lumen.db'),
      relay,
    };
    cleanup = async () => {
      await relay.stop();
      await sandbox.close();
      if (args.keep) console.error(`fuzz: kept ${home.dir}`);
      else home.cleanup();
    };
  }

  let lastShown = 0;
  const report = await runFuzz({
    ...target,
    seed: args.seed,
    requests: args.requests,
    concurrency: args.concurrency,
    slowloris: args.slowloris,
    slowlorisWaitMs: args.slowlorisWaitMs,
    rssSettleMs: args.rssSettleMs,
    onProgress(done, total) {
      if (process.stderr.isTTY && Date.now() - lastShown > 250) {
        lastShown = Date.now();
        process.stderr.write(`\rfuzz: ${done}/${total}`);
      }
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');

  // Every valid delivery answered 200 must be in the database, once.
  let missing = [];
  if (target.db) {
    missing = await missingFromDb(target.db, report.mustStore);
    for (const wamid of missing.slice(0, 20)) report.violations.push({ category: 'storage', why: 'acknowledged but not stored once', request: wamid, answer: '' });
  }
  const rssGrowth = report.rss.before && report.rss.after ? report.rss.after - report.rss.before : null;
  if (rssGrowth !== null && rssGrowth > args.rssLimitMib * MiB) {
    report.violations.push({ category: 'memory', why: `RSS grew by ${(rssGrowth / MiB).toFixed(1)} MiB (limit ${args.rssLimitMib})`, request: '', answer: '' });
  }
  // With the relay started here: nothing on its stderr, no error events, no stack traces.
  if (target.relay) {
    const errors = target.relay.events.filter((e) => e.event === 'error' || e.event === '__not_json__');
    for (const e of errors.slice(0, 10)) report.violations.push({ category: 'relay output', why: `relay reported ${JSON.stringify(e).slice(0, 200)}`, request: '', answer: '' });
    if (/\n\s+at /.test(target.relay.stderr())) report.violations.push({ category: 'relay output', why: 'stack trace on stderr', request: target.relay.stderr().slice(0, 400), answer: '' });
  }
  const exit = target.relay ? await Promise.race([target.relay.exited, Promise.resolve(null)]) : null;
  if (exit) report.violations.push({ category: 'process', why: `the relay exited (${exit.code ?? exit.signal})`, request: '', answer: '' });

  console.log(formatReport(report));
  const mib = (bytes) => (bytes ? `${(bytes / MiB).toFixed(1)} MiB` : 'n/a');
  console.log(`warm-up ${report.warmup} requests (not in the table); valid deliveries stored: ${report.mustStore.length - missing.length}/${report.mustStore.length}${target.db ? '' : ' (not checked: no --db)'}; 429-retries of valid deliveries: ${report.retried429}`);
  console.log(`relay RSS: before ${mib(report.rss.before)}, peak ${mib(report.rss.peak)}, at the end ${mib(report.rss.end)}, settled ${mib(report.rss.after)}${rssGrowth !== null ? ` (${rssGrowth >= 0 ? '+' : ''}${(rssGrowth / MiB).toFixed(1)} MiB)` : ''}`);
  if (report.rss.samples?.length) {
    const quarter = (q) => report.rss.samples[Math.min(report.rss.samples.length - 1, Math.floor((report.rss.samples.length * q) / 4))];
    console.log(`relay RSS over the run: ${[0, 1, 2, 3, 4].map((q) => `${quarter(q).at} req ${mib(quarter(q).rss)}`).join(' · ')}`);
  }
  for (const [why, entry] of report.notes) console.log(`note: ${entry.count}× ${why}, e.g. ${entry.example}`);
  if (report.slowloris) {
    const conns = report.slowloris.conns.map((c) => `${c.kind}: ${c.closedAfterMs === null ? 'still open' : `cut off after ${(c.closedAfterMs / 1000).toFixed(1)} s${c.status ? ` (${c.status})` : ''}`}`);
    console.log(`slowloris: ${report.slowloris.openDuringRun}/${report.slowloris.count} held open during the run; ${conns.join('; ')}`);
  }
  if (report.violations.length > 0) {
    console.log(`\n${report.violations.length} violation(s):`);
    for (const v of report.violations.slice(0, 40)) console.log(`  [${v.category}] ${v.why}${v.request ? ` — ${v.request}` : ''}${v.answer ? ` → ${v.answer}` : ''}`);
  } else console.log('\nno violations');
  await cleanup();
  if (target.pid && !target.relay && rssOf(target.pid) === null) console.log('(the targeted relay process is gone)');
  process.exitCode = report.violations.length > 0 ? 1 : 0;
}

main().catch((error) => {
  console.error(`fuzz: ${process.env.DEBUG ? (error.stack ?? error) : (error.message ?? error)}`);
  process.exitCode = 2;
});
