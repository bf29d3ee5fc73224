#!/usr/bin/env node
/**
 * Crash consistency of the relay (DESIGN §6): rounds of "stream unique signed deliveries at it, SIGKILL it at a
 * random moment, restart it on the same LUMEN_HOME", with --forward-to a local target throughout; deliveries that
 * got no answer are sent again after the restart, as Meta retries them, and so are a few that did get a 200 (Meta
 * retries a delivery whose answer a tunnel lost). At the end, once the dispatch queue has drained, it checks:
 *   - every delivery that got a 200 is stored, each wamid exactly once, and a delivery is stored whole or not at all;
 *   - the database passes SQLite's integrity check after every kill;
 *   - after the last (graceful) stop, every stored message is there once and is counted once in contacts;
 *   - every stored message reached the forward target at least once (none lost), and has a delivered event;
 *   - a message reached the target twice only when a kill fell between its delivery and the record of it (the
 *     database did not show it delivered at the kill): at-least-once, never a double dispatch otherwise, and at
 *     most the dispatcher's concurrency (8) such messages per kill. Each relay forwards to its own path on the
 *     target (/hook/<round>), so which relay sent an arrival is known from the request, not from clocks.
 *
 *   node scripts/crash-relay.mjs [--rounds 5] [--concurrency 8] [--rate 1000] [--min-kill-ms 300] [--max-kill-ms 2000]
 *                                [--seed N] [--keep]
 *
 * Everything runs on 127.0.0.1 in a temporary LUMEN_HOME (the sandbox from dist/, `lumen whatsapp connect`,
 * `lumen relay start --port 0 --json --quiet --forward-to …`). Needs `npm run build`. Exits 1 on any violation.
 * `runCrash` is also what test/integration/relay-crash.test.ts runs, with fewer rounds.
 */
import { createHmac } from 'node:crypto';
import { Agent, createServer, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeRandom } from './fuzz-corpus.mjs';

/** The relay's dispatcher works this many deliveries at once: at most this many can be redelivered per kill. */
export const DISPATCH_CONCURRENCY = 8;

function sign(body, appSecret) {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

/** A delivery of `wamids` (1–3 text messages) for the number, serialised once: these bytes are signed and sent. */
function deliveryBody(phoneNumberId, wamids) {
  const messages = wamids.map((wamid, i) => ({ from: `1555700${String(i).padStart(4, '0')}`, id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: `crash test ${wamid}` } }));
  return Buffer.from(
    JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550104242', phone_number_id: phoneNumberId }, contacts: messages.map((m) => ({ profile: { name: 'Crash' }, wa_id: m.from })), messages } }] }],
    }),
  );
}

function post(url, body, appSecret, agent) {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: 'POST', agent, timeout: 10_000, headers: { 'content-type': 'application/json', 'content-length': body.length, 'x-hub-signature-256': sign(body, appSecret) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/**
 * The user's code behind --forward-to: records each message's arrival with the round of the relay that sent it (from
 * the path, /hook/<round>); answers 200 after a short random delay.
 */
async function startTarget(random, maxDelayMs) {
  const received = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      let wamid = null;
      try {
        wamid = JSON.parse(Buffer.concat(chunks).toString('utf8')).wamid;
      } catch {}
      const round = Number(/\/hook\/(\d+)$/.exec(req.url ?? '')?.[1] ?? NaN);
      received.push({ at: Date.now(), round, wamid });
      // A little latency keeps deliveries in flight, so kills land mid-dispatch too.
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), random.int(maxDelayMs + 1));
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    received,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs the rounds and the checks. Options:
 *   startRelay(forwardToUrl) → Promise<{url, pid, kill(): Promise, stop(): Promise<{exitCode?|code?}>}> (same LUMEN_HOME every time)
 *   webhookPath, appSecret, phoneNumberId, dbPath,
 *   rounds (default 5), concurrency (8), rate (deliveries/s, 0 = unpaced), minKillMs (300), maxKillMs (2000),
 *   killAfterAcks ({min, max}: kill on a random count of this round's acknowledgments instead of after a random
 *   time; what a test uses, so how much happens before each kill does not depend on the machine's speed),
 *   targetDelayMs (5), drainTimeoutMs (20000), seed, log?(line)
 * Resolves with a report {rounds, kills, acked, stored, storedUnacked, resent, forwarded, duplicates, violations}.
 */
export async function runCrash(options) {
  const { default: Database } = await import('better-sqlite3');
  const seed = options.seed ?? Date.now() % 2 ** 31;
  const random = makeRandom(seed);
  const rounds = options.rounds ?? 5;
  const concurrency = options.concurrency ?? 8;
  const minKillMs = options.minKillMs ?? 300;
  const maxKillMs = Math.max(minKillMs, options.maxKillMs ?? 2000);
  const log = options.log ?? (() => {});
  const rate = options.rate ?? 0;
  const tag = `${seed.toString(36)}${Date.now().toString(36)}`;
  let serial = 0;

  const db = () => new Database(options.dbPath, { readonly: true, fileMustExist: true });
  const query = (sql, ...params) => {
    const conn = db();
    try {
      return conn.prepare(sql).all(...params);
    } finally {
      conn.close();
    }
  };

  const report = { seed, rounds, kills: [], deliveries: 0, acked: 0, resent: 0, redelivered: 0, committedUnanswered: 0, stored: 0, forwarded: 0, duplicates: [], violations: [] };
  const violation = (why) => {
    if (report.violations.length < 50) report.violations.push(why);
  };
  const deliveries = []; // {wamids, acked}
  let pending = []; // deliveries without a 200 yet: sent again after the restart, like Meta does
  const target = await startTarget(random, options.targetDelayMs ?? 5);

  /**
   * Streams deliveries (the pending ones first) until `stop()` says so; returns when all workers are idle. `onAck` is
   * called on each 200.
   */
  async function stream(relay, stopAfterMs, onlyPending = false, onAck = () => {}) {
    const url = `${relay.url}${options.webhookPath}`;
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    let stopped = false;
    const queue = pending;
    pending = [];
    const nextDelivery = () => {
      if (queue.length > 0) {
        report.resent++;
        return queue.shift();
      }
      const count = random.chance(0.75) ? 1 : random.range(2, 3);
      const delivery = { wamids: Array.from({ length: count }, () => `wamid.CRASH${tag}.${(serial++).toString(36)}=`), acked: false };
      deliveries.push(delivery);
      report.deliveries++;
      return delivery;
    };
    // Paced at `rate` deliveries per second in all (0 = as fast as the relay answers).
    const startedAt = Date.now();
    let sent = 0;
    const pace = async () => {
      if (!rate) return;
      const due = startedAt + (sent++ * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
    };
    const workers = Array.from({ length: concurrency }, async () => {
      while (!stopped && !(onlyPending && queue.length === 0)) {
        await pace();
        if (stopped) break;
        const delivery = nextDelivery();
        const status = await post(url, deliveryBody(options.phoneNumberId, delivery.wamids), options.appSecret, agent);
        if (status === 200) {
          delivery.acked = true;
          onAck();
        } else pending.push(delivery); // no answer (killed) or a refusal: Meta would retry it
        if (status !== 200 && status !== 0 && status !== 429) violation(`a valid delivery was answered ${status}`);
      }
    });
    const stopping = stopAfterMs(() => {
      stopped = true;
    });
    await Promise.all([...workers, stopping]);
    agent.destroy();
    pending.push(...queue);
  }

  try {
    for (let round = 1; round <= rounds + 1; round++) {
      const final = round === rounds + 1;
      // A few acknowledged deliveries come again after each restart: the keys the killed relay held in memory are
      // gone, and these must still be recognised (stored once, not handed on again).
      const acked = deliveries.filter((d) => d.acked);
      for (let i = 0; i < Math.min(10, acked.length); i++) {
        pending.push(acked[random.range(0, acked.length - 1)]);
        report.redelivered++;
      }
      const relay = await options.startRelay(`${target.url}/${round}`);
      if (final) {
        // The last start is not killed: it receives what is still unanswered plus a few more, then drains.
        await stream(relay, async (stop) => {
          await sleep(300);
          stop();
        });
        const deadline = Date.now() + (options.drainTimeoutMs ?? 20_000);
        for (;;) {
          const [{ n }] = query("SELECT COUNT(*) AS n FROM dispatch_events WHERE state != 'delivered'");
          if (n === 0 && pending.length === 0) break;
          if (Date.now() > deadline) {
            violation(`the dispatch queue did not drain: ${n} events left, ${pending.length} deliveries unanswered`);
            break;
          }
          if (pending.length > 0) await stream(relay, async () => {}, true);
          await sleep(100);
        }
        const exit = await relay.stop();
        const code = exit.exitCode ?? exit.code;
        if (code !== 0) violation(`the relay exited ${code ?? exit.signal} on SIGTERM after draining`);
        break;
      }
      const killAfterAcks = options.killAfterAcks ? random.range(options.killAfterAcks.min, options.killAfterAcks.max) : undefined;
      const killAfter = killAfterAcks === undefined ? random.range(minKillMs, maxKillMs) : undefined;
      let acks = 0;
      let enoughAcks;
      const ackedEnough = new Promise((resolve) => {
        enoughAcks = resolve;
      });
      // A relay that dies by itself is not waited for (the checks then report what it lost).
      relay.exited?.then(() => enoughAcks());
      let killedAt = 0;
      let exitedAt = 0;
      await stream(
        relay,
        async (stop) => {
          if (killAfter !== undefined) await sleep(killAfter);
          else await ackedEnough;
          killedAt = Date.now();
          await relay.kill();
          exitedAt = Date.now();
          stop();
        },
        false,
        () => {
          acks += 1;
          if (acks >= killAfterAcks) enoughAcks();
        },
      );
      // What the database says right after the kill: which messages it has delivered, and whether it is sound.
      const delivered = new Set(
        query("SELECT i.wamid FROM interactions i JOIN dispatch_events e ON e.interaction_seq = i.seq WHERE e.state = 'delivered'").map((r) => r.wamid),
      );
      const [{ quick_check: check }] = query('PRAGMA quick_check');
      if (check !== 'ok') violation(`integrity check after kill ${round}: ${check}`);
      // Deliveries the kill left unanswered although they were committed: Meta's retry will find them stored.
      const storedNow = new Set(query('SELECT wamid FROM interactions').map((r) => r.wamid));
      const committedUnanswered = pending.filter((d) => d.wamids.every((w) => storedNow.has(w))).length;
      report.committedUnanswered += committedUnanswered;
      report.kills.push({ round, afterMs: killAfter, afterAcks: killAfterAcks, at: killedAt, exitedAt, delivered, committedUnanswered });
      log(`round ${round}: killed after ${killAfter === undefined ? `${acks} acknowledgments` : `${killAfter} ms`}; ${deliveries.filter((d) => d.acked).length} deliveries acknowledged so far, ${pending.length} to resend`);
    }

    // --- checks ---
    const rows = query('SELECT wamid, COUNT(*) AS n FROM interactions GROUP BY wamid');
    const storedCount = new Map(rows.map((r) => [r.wamid, r.n]));
    report.stored = rows.length;
    for (const [wamid, n] of storedCount) if (n !== 1) violation(`${wamid} stored ${n} times`);
    for (const delivery of deliveries) {
      const present = delivery.wamids.filter((w) => storedCount.has(w)).length;
      if (delivery.acked) report.acked++;
      if (delivery.acked && present !== delivery.wamids.length) violation(`acknowledged but not stored: ${delivery.wamids.filter((w) => !storedCount.has(w)).join(', ')}`);
      if (present !== 0 && present !== delivery.wamids.length) violation(`a delivery stored in part: ${present}/${delivery.wamids.length} of ${delivery.wamids[0]}`);
    }
    const ours = new Set(deliveries.flatMap((d) => d.wamids));
    for (const wamid of storedCount.keys()) if (!ours.has(wamid)) violation(`stored but never sent: ${wamid}`);
    const [{ n: notDelivered }] = query(
      "SELECT COUNT(*) AS n FROM interactions i LEFT JOIN dispatch_events e ON e.interaction_seq = i.seq WHERE e.state IS NULL OR e.state != 'delivered'",
    );
    if (notDelivered > 0) violation(`${notDelivered} stored messages have no delivered dispatch event`);

    const arrivals = new Map();
    for (const arrival of target.received) {
      if (!arrivals.has(arrival.wamid)) arrivals.set(arrival.wamid, []);
      arrivals.get(arrival.wamid).push(arrival);
    }
    report.forwarded = arrivals.size;
    for (const wamid of storedCount.keys()) if (!arrivals.has(wamid)) violation(`stored but never forwarded: ${wamid}`);
    for (const wamid of arrivals.keys()) if (!storedCount.has(wamid)) violation(`forwarded but not stored: ${wamid}`);
    const perKill = new Map();
    for (const [wamid, times] of arrivals) {
      if (times.length < 2) continue;
      // Each extra arrival needs a kill between the relay that sent the previous one and the relay that sent it, at
      // which the database did not show the message delivered. Rounds come from the request path, not from clocks:
      // an arrival the test process reads late is still counted for the relay that sent it.
      for (let i = 1; i < times.length; i++) {
        const [before, after] = [times[i - 1].round, times[i].round];
        const kill = report.kills.find((k) => before <= k.round && k.round < after && !k.delivered.has(wamid));
        if (!kill) violation(`${wamid} forwarded again without a crash in between (by the relays of rounds ${times.map((t) => t.round).join(', ')})`);
        else perKill.set(kill.round, (perKill.get(kill.round) ?? 0) + 1);
      }
      report.duplicates.push({ wamid, times: times.length });
    }
    for (const [round, n] of perKill) if (n > DISPATCH_CONCURRENCY) violation(`${n} messages forwarded again after kill ${round} (more than the ${DISPATCH_CONCURRENCY} that can be in flight)`);

    // What the relay derives from the stored messages after it (SIGKILL included) caught up: nothing lost or doubled.
    const [{ n: distinct }] = query('SELECT COUNT(DISTINCT integration_id || char(0) || wamid) AS n FROM interactions');
    if (distinct !== report.stored) violation(`${distinct} distinct wamids for ${report.stored} stored messages`);
    const [{ n: counted }] = query('SELECT COALESCE(SUM(messages), 0) AS n FROM contacts');
    if (counted !== report.stored) violation(`contacts count ${counted} messages for ${report.stored} stored`);
  } finally {
    await target.close();
  }
  for (const kill of report.kills) delete kill.delivered;
  return report;
}

export function formatCrashReport(report) {
  const lines = [
    `rounds ${report.rounds} (seed ${report.seed}): kills after ${report.kills.map((k) => (k.afterAcks === undefined ? `${k.afterMs} ms` : `${k.afterAcks} acknowledgments`)).join(', ')}`,
    `deliveries sent ${report.deliveries} (+${report.resent} sent again: unanswered after a kill, ${report.committedUnanswered} of them already stored, or acknowledged and redelivered (${report.redelivered})); acknowledged ${report.acked}`,
    `messages stored ${report.stored}, each once; forwarded ${report.forwarded}; forwarded more than once: ${report.duplicates.length} (at-least-once across ${report.kills.length} kills)`,
  ];
  if (report.violations.length > 0) lines.push(`\n${report.violations.length} violation(s):`, ...report.violations.map((v) => `  ${v}`));
  else lines.push('\nno violations');
  return lines.join('\n');
}

async function main() {
  const { connectSandboxNumber, makeHome, parseArgs, startRelayProcess, startSandbox } = await import('./relay-harness.mjs');
  const args = parseArgs(process.argv.slice(2), { rounds: 5, concurrency: 8, rate: 1000, minKillMs: 300, maxKillMs: 2000, seed: Date.now() % 2 ** 31, keep: false });
  const sandbox = await startSandbox();
  const home = makeHome();
  const env = { ...home.env, LUMEN_GRAPH_URL: sandbox.url };
  const started = Date.now();
  try {
    const connection = await connectSandboxNumber(env, sandbox);
    const report = await runCrash({
      // Rate limits off: the stream is denser than Meta's and this is about crashes, not throttling.
      startRelay: (forwardTo) => startRelayProcess(env, ['--quiet', '--rate-limit', '0', '--workspace-rate-limit', '0', '--forward-to', forwardTo]),
      webhookPath: connection.path,
      appSecret: sandbox.appSecret,
      phoneNumberId: sandbox.phoneNumberId,
      dbPath: join(home.dir, 'lumen.db'),
      rounds: args.rounds,
      concurrency: args.concurrency,
      rate: args.rate,
      minKillMs: args.minKillMs,
      maxKillMs: args.maxKillMs,
      seed: args.seed,
      log: (line) => console.error(`crash: ${line}`),
    });
    console.log(formatCrashReport(report));
    console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s${args.keep ? `; LUMEN_HOME kept at ${home.dir}` : ''})`);
    process.exitCode = report.violations.length > 0 ? 1 : 0;
  } finally {
    await sandbox.close();
    if (!args.keep) home.cleanup();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(`crash: ${process.env.DEBUG ? (error.stack ?? error) : (error.message ?? error)}`);
    process.exitCode = 2;
  });
}
