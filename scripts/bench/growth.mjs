// Growth: the relay and the CLI on a home holding millions of stored messages, next to an empty home.
//  1. Two connected homes: an empty one, and one seeded with GROWTH_MESSAGES interactions from GROWTH_SENDERS
//     senders (and their contacts rows) straight into lumen.db with SQL (seed.mjs).
//  2. `lumen relay start` on each, alternately, START_ROUNDS times: time from spawn to the `listening` line, and
//     VmRSS one second later (idle); medians.
//  3. The CLI on the grown home against the empty one seeded with one message per load sender in the last hour (so
//     the same commands succeed there): `messages list`, `messages list --from` (a sender with 200 messages, and one
//     with none), `contacts list` and a 24-hour-window check
//     (`send --text … --dry-run`, which refuses free-form text outside the window), CLI_ROUNDS times each in
//     rotating order; medians.
//  4. Ingest (messages only, the same load as the ingest part) alternately on a fresh empty home and on the grown
//     one, ROUNDS times; the better round of each counts, RSS is the most seen over the rounds.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { makeDeliveries, senderOf } from './deliveries.mjs';
import { ingestRound } from './ingest.mjs';
import { RELAY_ARGS } from './load.mjs';
import { LUMEN, readRss, removeTemporaryDir, startServer } from './processes.mjs';
import { countStored, seedInteractions, tableExists } from './seed.mjs';
import { median } from './stats.mjs';

export const GROWTH_MESSAGES = 2_000_000;
export const GROWTH_SENDERS = 10_000;
const START_ROUNDS = 7;
const CLI_ROUNDS = 5;

export async function growth({ meta, newHome, relayNodeArgs, keep, log, rounds }) {
  const homes = [];
  const cleanup = () => {
    for (const h of homes) {
      if (!keep) removeTemporaryDir(h.home);
      else log(`  kept LUMEN_HOME ${h.home}`);
    }
  };
  try {
    const grown = await newHome();
    homes.push(grown);
    const grownDb = join(grown.home, 'lumen.db');
    log(`growth: seeding ${GROWTH_MESSAGES.toLocaleString('en-US')} messages from ${GROWTH_SENDERS.toLocaleString('en-US')} senders into ${grownDb}…`);
    const seeded = seedInteractions(grownDb, grown.integrationId, { count: GROWTH_MESSAGES, senders: GROWTH_SENDERS });
    seeded.databaseBytes = statSync(grownDb).size;
    seeded.dedupeKeyTables = tableExists(grownDb, 'interaction_keys');
    log(`  seeded ${seeded.interactions} interactions, ${seeded.contacts} contacts in ${(seeded.ms / 1000).toFixed(1)} s (${(seeded.databaseBytes / 2 ** 20).toFixed(0)} MiB)`);
    const empty = await newHome();
    homes.push(empty);

    log(`growth: relay start × ${START_ROUNDS} on the empty and the grown home, alternately…`);
    const starts = { empty: [], grown: [] };
    for (let round = 0; round < START_ROUNDS; round += 1) {
      for (const [key, h] of round % 2 === 0 ? [['empty', empty], ['grown', grown]] : [['grown', grown], ['empty', empty]]) {
        starts[key].push(await startOnce(h, relayNodeArgs));
      }
    }
    const startSummary = (list) => ({
      medianMs: median(list.map((s) => s.startMs)),
      minMs: Math.min(...list.map((s) => s.startMs)),
      idleRssMedian: median(list.map((s) => s.idleRss)),
      samples: list,
    });
    const start = { empty: startSummary(starts.empty), grown: startSummary(starts.grown) };
    log(`  start ${fmtMs(start.empty.medianMs)} empty, ${fmtMs(start.grown.medianMs)} grown`);

    // The reference home for the CLI: one message per load sender, so the same commands (and the window) work.
    seedInteractions(join(empty.home, 'lumen.db'), empty.integrationId, { count: 1000, senders: 1000, spanSeconds: 3600 });
    log(`growth: the CLI × ${CLI_ROUNDS} on the grown home and on one with 1,000 messages…`);
    const cli = cliTimes({ grown, empty });

    const ingest = { empty: [], grown: [] };
    const make = (count) => makeDeliveries(count, { meta, workload: 'messages' });
    for (let round = 1; round <= rounds; round += 1) {
      for (const key of ['empty', 'grown']) {
        let h = grown;
        if (key === 'empty') {
          h = await newHome(); // a fresh one each round: empty when the round starts
          homes.push(h);
        }
        log(`growth round ${round}/${rounds}: ingest on the ${key} home…`);
        const database = join(h.home, 'lumen.db');
        const before = countStored(database).interactions;
        const relay = await startServer([...relayNodeArgs, LUMEN, ...RELAY_ARGS], { env: h.env });
        let result;
        let exit;
        try {
          result = await ingestRound(`${relay.url}/webhooks/whatsapp/${h.integrationId}`, { make, pid: relay.pid });
        } finally {
          exit = await relay.stop();
        }
        const stored = countStored(database).interactions - before;
        const answered2xx = result.warmup.ok + result.measured.ok;
        ingest[key].push({ storedBefore: before, startMs: relay.startMs, ...result, stored, answered2xx, exit, stderr: relay.stderr().slice(-4000) });
        log(`  ${key}: ${Math.round(result.measured.rps)} req/s, p99 ${result.measured.latency.p99} ms, max RSS ${(result.maxRss / 2 ** 20).toFixed(1)} MiB, stored ${stored} of ${answered2xx} (${before} before)`);
        if (key === 'empty' && !keep) {
          removeTemporaryDir(h.home);
          homes.pop();
        }
      }
    }
    const best = (runs) => runs.reduce((a, b) => (b.measured.rps > a.measured.rps ? b : a));
    return {
      messages: GROWTH_MESSAGES,
      senders: GROWTH_SENDERS,
      seeded,
      start,
      cli,
      ingest,
      bestEmpty: best(ingest.empty),
      bestGrown: best(ingest.grown),
    };
  } finally {
    cleanup();
  }
}

async function startOnce(h, relayNodeArgs) {
  const relay = await startServer([...relayNodeArgs, LUMEN, ...RELAY_ARGS], { env: h.env, timeoutMs: 120_000 });
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return { startMs: relay.startMs, idleRss: readRss(relay.pid) ?? 0 };
  } finally {
    await relay.stop();
  }
}

function cliTimes({ grown, empty }) {
  const sender = `+${senderOf(123)}`;
  const commands = [
    { key: 'messagesList', label: 'lumen messages list', args: ['messages', 'list', '--json'] },
    { key: 'messagesFrom', label: 'lumen messages list --from', args: ['messages', 'list', '--from', sender, '--json'] },
    // A sender who never wrote: every stored message is looked at unless an index leads to the sender's.
    { key: 'messagesFromNobody', label: 'lumen messages list --from (no such sender)', args: ['messages', 'list', '--from', '+15559999999', '--json'] },
    { key: 'contactsList', label: 'lumen contacts list', args: ['contacts', 'list', '--json'] },
    { key: 'windowCheck', label: 'lumen send --text --dry-run (window check)', args: ['send', '--to', sender, '--text', 'hi', '--dry-run', '--json', '--no-input'] },
  ];
  const runs = [];
  for (const command of commands) for (const [home, h] of [['grown', grown], ['empty', empty]]) runs.push({ ...command, home, env: h.env });
  const times = new Map(runs.map((r) => [`${r.key}/${r.home}`, []]));
  const failures = [];
  const run = (r) => {
    const started = performance.now();
    const result = spawnSync(process.execPath, [LUMEN, ...r.args], { env: r.env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 2 ** 20 });
    const ms = performance.now() - started;
    if (result.status !== 0) {
      failures.push({ command: r.label, home: r.home, exit: result.status ?? result.signal, output: `${result.stderr}${result.stdout}`.slice(-1000) });
    }
    return ms;
  };
  for (const r of runs) run(r); // page cache and compile cache
  for (let round = 0; round < CLI_ROUNDS; round += 1) {
    for (let i = 0; i < runs.length; i += 1) {
      const r = runs[(round + i) % runs.length];
      times.get(`${r.key}/${r.home}`).push(run(r));
    }
  }
  const out = { sender, failures: failures.slice(0, 8) };
  for (const c of commands) {
    out[c.key] = {
      label: c.label,
      grownMs: median(times.get(`${c.key}/grown`)),
      emptyMs: median(times.get(`${c.key}/empty`)),
      samples: { grown: times.get(`${c.key}/grown`), empty: times.get(`${c.key}/empty`) },
    };
  }
  return out;
}

const fmtMs = (ms) => `${Math.round(ms)} ms`;
