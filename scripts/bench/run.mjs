// `npm run bench`: measures lumen against baselines and peers taken in the same run on the same machine, prints a
// table with PASS/MISS per target (DESIGN.md §4) and writes bench/results.json. A missed target is a finding, not a
// failure: the exit code is 0 unless the bench itself could not run (then 1, after writing what it did measure).
//
//   node --expose-gc scripts/bench/run.mjs [--only cold,bulk,ingest,mix,peers,growth,console,multi] [--rounds 2] [--keep]
//     cold    `lumen --help` / `lumen templates list` against `node -e 0`
//     bulk    `lumen send --csv` rate accuracy, judged at the sandbox
//     ingest  lumen relay vs the bare Fastify route, messages only
//     mix     lumen relay (and the bare route) on the 1 message : 3 statuses mix
//     peers   whatsapp-api-js and Express 5 (+ SQLite) and the bare route, on both workloads
//     growth  ingest, relay start, RSS and the CLI after 2 M stored messages vs an empty home
//     console each console page with 10,000 stored messages: its HTML served whole, and its first paint in headless
//             Chromium (/usr/bin/chromium; said and left out where it is absent)
//     multi   two relays on one PostgreSQL next to one relay on SQLite (and on PostgreSQL), same ingest load; and
//             two bulk senders on one number from two homes on one PostgreSQL, judged at the sandbox
//   BENCH_RELAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" … profiles the relay processes.
// Load rounds of every selected part are interleaved (round 1 of every server, then round 2…), one server at a
// time, so the noise of this box hits every server alike; the best of --rounds (2) rounds of each counts. --keep
// keeps the temporary LUMEN_HOMEs (the grown one is over 1 GiB).
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, totalmem, platform, release } from 'node:os';
import { join } from 'node:path';
import { bulkSend, BULK_RATE, BULK_ROWS } from './bulk-send.mjs';
import { coldStart, COLD_START_ROUNDS } from './cold-start.mjs';
import { consolePaint, CONSOLE_MESSAGES } from './console-paint.mjs';
import { growth } from './growth.mjs';
import { multi, MULTI_BULK_RATE, MULTI_BULK_ROWS, MULTI_SETUPS } from './multi.mjs';
import { CONNECTIONS, MEASURE_SECONDS } from './ingest.mjs';
import { loadRound, PEERS, SERVERS } from './load.mjs';
import { connectedHome, removeTemporaryDir, ROOT, temporaryDirs } from './processes.mjs';

const MiB = 1024 * 1024;
const PARTS = ['cold', 'bulk', 'ingest', 'mix', 'peers', 'growth', 'console', 'multi'];
const WORKLOADS = { messages: 'messages only', mix: 'mix 1 message : 3 statuses' };

const argv = process.argv.slice(2);
const onlyArg = argv.find((a) => a.startsWith('--only'));
const only = onlyArg ? new Set((onlyArg.includes('=') ? onlyArg.split('=')[1] : argv[argv.indexOf(onlyArg) + 1]).split(',')) : undefined;
for (const part of only ?? []) {
  if (!PARTS.includes(part)) {
    process.stderr.write(`unknown part ${part}: --only takes ${PARTS.join(',')}\n`);
    process.exit(2);
  }
}
const wants = (part) => !only || only.has(part);
const keep = argv.includes('--keep');
const roundsArg = argv.find((a) => a.startsWith('--rounds'));
const ROUNDS = roundsArg ? Number(roundsArg.includes('=') ? roundsArg.split('=')[1] : argv[argv.indexOf(roundsArg) + 1]) : 2;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 10) {
  process.stderr.write('--rounds takes a whole number from 1 to 10\n');
  process.exit(2);
}
const relayNodeArgs = (process.env.BENCH_RELAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

const log = (line) => process.stderr.write(`${line}\n`);
const benchStarted = Date.now();
// Interrupted: the servers get the signal too (same process group); the temporary homes (one holds GiBs) go.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    if (!keep) for (const dir of [...temporaryDirs]) removeTemporaryDir(dir);
    process.exit(130);
  });
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  totalMemoryMiB: Math.round(totalmem() / MiB),
  os: `${platform()} ${release()}`,
  node: process.version,
  date: new Date().toISOString(),
  // Other work on the box skews everything (a 2-core VM): the 1-minute load average before and after the bench.
  loadAverageAtStart: Number(loadavg()[0].toFixed(2)),
};
log(`lumen bench on ${machine.cpu} (${machine.cores} cores, ${machine.totalMemoryMiB} MiB), Node ${machine.node}`);

// What each workload is measured on. The peers and the bare route need no lumen at all: with --only peers the bench
// runs without the sandbox (and without dist/), signing with an app secret of its own.
const plan = { messages: new Set(), mix: new Set() };
if (wants('ingest')) plan.messages.add('bare').add('lumen');
if (wants('mix')) plan.mix.add('bare').add('lumen');
if (wants('peers')) for (const w of ['messages', 'mix']) for (const s of ['bare', ...PEERS]) plan[w].add(s);
const needsLumen = ['cold', 'bulk', 'ingest', 'mix', 'growth', 'console', 'multi'].some(wants);

const results = { machine, cold: undefined, bulk: undefined, load: undefined, growth: undefined, console: undefined, multi: undefined, errors: [] };
let sandbox;
let main;
let meta = { appSecret: randomBytes(16).toString('hex'), phoneNumberId: '106540352242922', wabaId: '102290129340398' };
const failed = (part, error) => {
  const message = error instanceof Error ? error.message : String(error);
  results.errors.push({ part, message: message.slice(0, 4000) });
  log(`${part} could not run: ${message.slice(0, 2000)}`);
};

try {
  if (needsLumen) {
    try {
      const { startSandbox } = await import(join(ROOT, 'dist', 'sandbox', 'index.js'));
      sandbox = await startSandbox();
      meta = { appSecret: sandbox.appSecret, phoneNumberId: sandbox.phoneNumberId, wabaId: sandbox.wabaId };
      main = await connectedHome(sandbox);
    } catch (error) {
      failed('lumen setup (sandbox, lumen whatsapp connect)', error);
      for (const w of Object.values(plan)) w.delete('lumen');
    }
  }
  const newHome = () => connectedHome(sandbox);

  if (wants('cold') && main) {
    log(`cold start: node -e 0, lumen --help, lumen templates list × ${COLD_START_ROUNDS}, alternately…`);
    try {
      results.cold = coldStart(main.env);
    } catch (error) {
      failed('cold', error);
    }
  }
  if (wants('bulk') && main) {
    log(`bulk send: ${BULK_ROWS} rows at --rate ${BULK_RATE} against the sandbox (≈ ${Math.round(BULK_ROWS / BULK_RATE)} s)…`);
    try {
      results.bulk = await bulkSend({ sandbox, home: main.home, env: main.env });
    } catch (error) {
      failed('bulk', error);
    }
  }
  if (plan.messages.size + plan.mix.size > 0) results.load = await load({ newHome });
  if (wants('console') && sandbox) {
    log(`console: each page's HTML and first paint with ${CONSOLE_MESSAGES.toLocaleString('en-US')} stored messages…`);
    try {
      results.console = await consolePaint({ newHome, keep, log });
    } catch (error) {
      failed('console', error);
    }
  }
  if (wants('multi') && sandbox) {
    log(`multi: ${Object.values(MULTI_SETUPS).map((s) => s.label).join(', ')}; then 2 × ${MULTI_BULK_ROWS} rows at --rate ${MULTI_BULK_RATE} from two homes…`);
    try {
      const { errors, ...measured } = await multi({ sandbox, meta, relayNodeArgs, keep, log, rounds: ROUNDS });
      results.multi = measured;
      for (const error of errors) failed(error.part, error.message);
    } catch (error) {
      failed('multi', error);
    }
  }
  if (wants('growth') && sandbox) {
    try {
      results.growth = await growth({ meta, newHome, relayNodeArgs, keep, log, rounds: ROUNDS });
    } catch (error) {
      failed('growth', error);
    }
  }
} finally {
  await sandbox?.close();
  if (main) {
    if (!keep) removeTemporaryDir(main.home);
    else log(`kept LUMEN_HOME ${main.home}`);
  }
}

machine.loadAverageAtEnd = Number(loadavg()[0].toFixed(2));
const rows = targetRows(results);
const report = { ...results, targets: rows, benchSeconds: Math.round((Date.now() - benchStarted) / 1000) };
// bench/results.json holds the last full run (the README's table); a run of some parts writes its own file beside it.
const resultsFile = only ? `results.only-${[...only].sort().join('-')}.json` : 'results.json';
mkdirSync(join(ROOT, 'bench'), { recursive: true });
writeFileSync(join(ROOT, 'bench', resultsFile), `${JSON.stringify(report, null, 2)}\n`);

process.stdout.write(`\n${markdownTable(rows)}\n\n`);
process.stdout.write(`${machine.cpu}, ${machine.cores} cores, ${machine.totalMemoryMiB} MiB, Node ${machine.node}, ${machine.date}\n`);
process.stdout.write(`load average ${machine.loadAverageAtStart} at the start, ${machine.loadAverageAtEnd} at the end (the bench alone brings it to about 2; more means other work shared the 2 cores)\n`);
const misses = rows.filter((r) => r.verdict === 'MISS');
for (const miss of misses) process.stdout.write(`MISS: ${miss.measure}: ${miss.value} (target ${miss.target})\n`);
process.stdout.write(misses.length === 0 ? 'All targets met.\n' : `${misses.length} target(s) missed.\n`);
for (const error of results.errors) process.stdout.write(`NOT MEASURED: ${error.part}: ${error.message.split('\n')[0]}\n`);
log(`bench took ${report.benchSeconds} s; wrote bench/${resultsFile}`);
if (results.errors.length > 0) process.exitCode = 1;

/**
 * Every selected (workload, server) pair ROUNDS times, interleaved: round 1 of each, then round 2. A server that
 * cannot run (the relay does not start, say) is reported and left out of the later rounds; the others go on.
 */
async function load({ newHome }) {
  const ctx = { meta, newHome, relayNodeArgs, keep, log };
  const rounds = [];
  const broken = new Set();
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const workload of Object.keys(plan)) {
      for (const server of Object.keys(SERVERS)) {
        if (!plan[workload].has(server) || broken.has(server)) continue;
        log(`load round ${round}/${ROUNDS}: ${SERVERS[server].label}, ${WORKLOADS[workload]}, ${CONNECTIONS} connections, ≈ ${MEASURE_SECONDS} s…`);
        try {
          const r = await loadRound(server, workload, ctx);
          rounds.push({ round, ...r });
          const stored = r.stored === undefined ? '' : `, stored ${r.stored} of ${r.answered2xx} answered 2xx`;
          log(`  ${Math.round(r.measured.rps)} req/s, p99 ${r.measured.latency.p99} ms, max RSS ${fmt((r.maxRss ?? 0) / MiB, 1)} MiB${stored}`);
        } catch (error) {
          broken.add(server);
          failed(`load: ${SERVERS[server].label}`, error);
        }
      }
    }
  }
  const best = {};
  for (const workload of Object.keys(plan)) {
    best[workload] = {};
    for (const server of plan[workload]) {
      const runs = rounds.filter((r) => r.workload === workload && r.server === server);
      if (runs.length > 0) best[workload][server] = runs.reduce((a, b) => (b.measured.rps > a.measured.rps ? b : a));
    }
  }
  return { connections: CONNECTIONS, rounds, best };
}

function targetRows({ cold, bulk, load: loaded, growth: grown, console: consolePages, multi: several }) {
  const rows = [];
  const row = (measure, value, baseline, ratio, target, pass) =>
    rows.push({ measure, value, baseline, ratio, target, verdict: pass === undefined ? 'info' : pass ? 'PASS' : 'MISS' });
  const rps = (r) => fmt(r.measured.rps, 0);
  const times = (x) => `${x.toFixed(2)}×`;
  if (loaded) {
    for (const workload of Object.keys(WORKLOADS)) {
      const best = loaded.best[workload] ?? {};
      const lumen = best.lumen;
      const lumenRuns = loaded.rounds.filter((r) => r.workload === workload && r.server === 'lumen');
      const name = WORKLOADS[workload];
      if (best.bare) {
        const ratio = lumen ? lumen.measured.rps / best.bare.measured.rps : undefined;
        const pass = workload === 'messages' && ratio !== undefined ? ratio >= 0.3 : undefined;
        row(`Ingest, ${name}: vs bare Fastify route`, lumen ? rps(lumen) : '—', rps(best.bare), ratio ? times(ratio) : '', workload === 'messages' ? '≥ 0.30×' : '', pass);
      }
      const peers = PEERS.filter((p) => best[p]);
      for (const peer of peers) {
        const ratio = lumen ? lumen.measured.rps / best[peer].measured.rps : undefined;
        row(`Ingest, ${name}: vs ${SERVERS[peer].label}`, lumen ? rps(lumen) : '—', rps(best[peer]), ratio ? times(ratio) : '', '', undefined);
      }
      if (peers.length > 0) {
        const top = peers.reduce((a, b) => (best[b].measured.rps > best[a].measured.rps ? b : a));
        const ratio = lumen ? lumen.measured.rps / best[top].measured.rps : undefined;
        row(`Ingest, ${name}: vs the best peer (${top})`, lumen ? rps(lumen) : '—', rps(best[top]), ratio ? times(ratio) : '', '≥ 2.00×', ratio === undefined ? undefined : ratio >= 2);
        // Steadier than requests/s when other work shares the cores: CPU (all threads) per answered request.
        const peerCpu = best[top].measured.serverCpuUsPerRequest;
        const lumenCpu = lumen?.measured.serverCpuUsPerRequest;
        if (peerCpu !== undefined) {
          row(`Server CPU per request, ${name}: vs ${top}`, lumenCpu !== undefined ? `${fmt(lumenCpu, 1)} µs` : '—', `${fmt(peerCpu, 1)} µs`, lumenCpu !== undefined ? times(lumenCpu / peerCpu) : '', '', undefined);
        }
      }
      if (lumen) {
        const worst = Math.max(...lumenRuns.map((r) => r.measured.latency.p99));
        row(`Relay latency p50, ${name}`, `${lumen.measured.latency.p50} ms`, best.bare ? `${best.bare.measured.latency.p50} ms` : '', '', '', undefined);
        row(`Relay latency p99, ${name} (worst round)`, `${worst} ms`, best.bare ? `${best.bare.measured.latency.p99} ms` : '', '', '< 25 ms', worst < 25);
        const b = best.bare?.measured;
        const r = lumen.measured;
        if (r.serverCpuUsPerRequest !== undefined) {
          const cpu = b?.serverCpuUsPerRequest ? r.serverCpuUsPerRequest / b.serverCpuUsPerRequest : undefined;
          row(`Server CPU per request, ${name}`, `${fmt(r.serverCpuUsPerRequest, 1)} µs`, b?.serverCpuUsPerRequest ? `${fmt(b.serverCpuUsPerRequest, 1)} µs` : '', cpu ? times(cpu) : '', '', undefined);
        }
      }
    }
    const lumenRounds = loaded.rounds.filter((r) => r.server === 'lumen');
    if (lumenRounds.length > 0) {
      const failures = lumenRounds.reduce((n, x) => n + x.warmup.non2xx + x.warmup.errors + x.measured.non2xx + x.measured.errors, 0);
      row('Relay non-2xx + errors (all rounds)', String(failures), '', '', '= 0', failures === 0);
      const stored = lumenRounds.reduce((n, x) => n + x.stored, 0);
      const answered = lumenRounds.reduce((n, x) => n + x.answered2xx, 0);
      row('Relay stored rows = 2xx answers', `${stored} / ${answered}`, '', '', 'equal', lumenRounds.every((x) => x.consistent));
      const rss = Math.max(...lumenRounds.map((x) => x.maxRss ?? 0)) / MiB;
      const bare = loaded.rounds.filter((r) => r.server === 'bare');
      const baseRss = bare.length ? `${fmt(Math.max(...bare.map((x) => x.maxRss ?? 0)) / MiB, 1)} MiB` : '';
      row('Relay max RSS under load', `${fmt(rss, 1)} MiB`, baseRss, '', '< 120 MiB', rss < 120);
      row('Relay WAL file after a round', `${fmt(Math.max(...lumenRounds.map((x) => x.walBytes ?? 0)) / MiB, 0)} MiB`, '', '', '', undefined);
      row('Relay SIGINT → exit after a round', `${fmt(Math.max(...lumenRounds.map((x) => x.stopMs)), 0)} ms`, '', '', '', undefined);
    }
    const peerRounds = loaded.rounds.filter((r) => PEERS.includes(r.server));
    if (peerRounds.length > 0) {
      const stored = peerRounds.reduce((n, x) => n + x.stored, 0);
      const answered = peerRounds.reduce((n, x) => n + x.answered2xx, 0);
      row('Peers stored rows = 2xx answers', '', `${stored} / ${answered}`, '', 'equal', peerRounds.every((x) => x.consistent));
    }
  }
  if (grown) {
    const e = grown.bestEmpty;
    const g = grown.bestGrown;
    const size = `${fmt(grown.seeded.interactions / 1e6, 2)} M`;
    const ratio = g.measured.rps / e.measured.rps;
    row(`Ingest after ${size} stored (vs empty home)`, rps(g), rps(e), times(ratio), '≥ 0.90×', ratio >= 0.9);
    const p99 = Math.max(...grown.ingest.grown.map((r) => r.measured.latency.p99));
    const p99Empty = Math.max(...grown.ingest.empty.map((r) => r.measured.latency.p99));
    row(`Relay latency p99 after ${size} stored (worst round)`, `${p99} ms`, `${p99Empty} ms`, '', '< 25 ms', p99 < 25);
    const start = grown.start.grown.medianMs / grown.start.empty.medianMs;
    row(`Relay start after ${size} stored (spawn → listening)`, `${fmt(grown.start.grown.medianMs, 0)} ms`, `${fmt(grown.start.empty.medianMs, 0)} ms`, times(start), '≤ 1.20×', start <= 1.2);
    const rssOf = (runs) => Math.max(...runs.map((r) => r.maxRss ?? 0)) / MiB;
    const rssG = rssOf(grown.ingest.grown);
    const rssE = rssOf(grown.ingest.empty);
    row(`Relay max RSS under load after ${size} stored`, `${fmt(rssG, 1)} MiB`, `${fmt(rssE, 1)} MiB`, `${rssG - rssE >= 0 ? '+' : ''}${fmt(rssG - rssE, 1)} MiB`, '≤ +10 MiB', rssG - rssE <= 10);
    row(`Relay idle RSS after start, ${size} stored`, `${fmt(grown.start.grown.idleRssMedian / MiB, 1)} MiB`, `${fmt(grown.start.empty.idleRssMedian / MiB, 1)} MiB`, '', '', undefined);
    const consistent = [...grown.ingest.grown, ...grown.ingest.empty].every((r) => r.stored === r.answered2xx);
    const failures = [...grown.ingest.grown, ...grown.ingest.empty].reduce((n, x) => n + x.warmup.non2xx + x.warmup.errors + x.measured.non2xx + x.measured.errors, 0);
    row('Growth rounds: non-2xx + errors, stored = 2xx', `${failures}, ${consistent ? 'equal' : 'NOT equal'}`, '', '', '0, equal', failures === 0 && consistent);
    for (const key of ['messagesList', 'messagesFrom', 'messagesFromNobody', 'contactsList', 'windowCheck']) {
      const c = grown.cli[key];
      row(`\`${c.label}\` after ${size} (vs 1,000 stored)`, `${fmt(c.grownMs, 0)} ms`, `${fmt(c.emptyMs, 0)} ms`, times(c.grownMs / c.emptyMs), '', undefined);
    }
    if (grown.cli.failures.length > 0) row('Growth CLI commands that failed', String(grown.cli.failures.length), '', '', '= 0', false);
    row(`Seeding ${size} messages + ${fmt(grown.seeded.contacts, 0)} contacts (SQL)`, `${fmt(grown.seeded.ms / 1000, 1)} s`, '', '', '', undefined);
  }
  if (cold) {
    const node = cold.node.medianMs;
    const help = cold.help.medianMs / node;
    const list = cold.templatesList.medianMs / node;
    row('Cold start `lumen --help`', `${fmt(cold.help.medianMs, 0)} ms`, `${fmt(node, 0)} ms`, times(help), '≤ 1.40×', help <= 1.4);
    row('Cold start `lumen templates list`', `${fmt(cold.templatesList.medianMs, 0)} ms`, `${fmt(node, 0)} ms`, times(list), '', undefined);
  }
  if (consolePages) {
    const worst = Math.max(...Object.values(consolePages.pages).map((p) => p.medianMs));
    const stored = fmt(consolePages.messages, 0);
    const shown = (path) => path.replace(/\/console\/conversations\/.+/, '/console/conversations/…');
    for (const [name, page] of Object.entries(consolePages.pages)) {
      row(`Console page \`${shown(page.path)}\` (${name}), ${stored} stored: HTML served, median, worst`, `${fmt(page.medianMs, 1)} ms, ${fmt(page.maxMs, 0)} ms`, '', '', '', undefined);
    }
    row('Console: slowest page HTML (median)', `${fmt(worst, 1)} ms`, '', '', '', undefined);
    if (consolePages.paintSkipped) {
      row(`Console first paint in Chromium: not measured (${consolePages.paintSkipped})`, '—', '', '', '< 100 ms', undefined);
    } else {
      const floor = consolePages.blankPage.fcp;
      for (const [name, page] of Object.entries(consolePages.pages)) {
        const p = page.paint;
        if (!p) continue;
        row(
          `Console \`${shown(page.path)}\` (${name}) in Chromium, ${stored} stored: first contentful paint median, worst (HTML ${fmt(p.htmlBytes / 1024, 1)} KiB)`,
          `${fmt(p.fcp.medianMs, 0)} ms, ${fmt(p.fcp.maxMs, 0)} ms`,
          `${fmt(floor.medianMs, 0)} ms, ${fmt(floor.maxMs, 0)} ms`,
          times(p.fcp.medianMs / floor.medianMs),
          '< 100 ms',
          p.fcp.medianMs < 100,
        );
      }
      const painted = Object.values(consolePages.pages).filter((p) => p.paint);
      const slowest = Math.max(...painted.map((p) => p.paint.fcp.medianMs));
      const worstEver = Math.max(...painted.map((p) => p.paint.fcp.maxMs));
      row(
        `Console: slowest view's first contentful paint, median (worst of all ${consolePages.paintRounds} rounds); baseline a blank page`,
        `${fmt(slowest, 0)} ms (${fmt(worstEver, 0)} ms)`,
        `${fmt(floor.medianMs, 0)} ms (${fmt(floor.maxMs, 0)} ms)`,
        times(slowest / floor.medianMs),
        '< 100 ms',
        slowest < 100 && consolePages.failures.length === 0,
      );
    }
  }
  if (bulk) {
    const within = Math.abs(bulk.achievedRate - bulk.rate) / bulk.rate <= 0.02;
    row(`Bulk send rate (${bulk.received}/${bulk.rows} rows, --rate ${bulk.rate})`, `${fmt(bulk.achievedRate, 2)}/s`, '', '', `${bulk.rate} ± 2 %`, within && bulk.received === bulk.rows);
    row('Bulk send worst 1-s window', `${bulk.worstWindow} sends`, '', '', `≤ ${bulk.rate}`, bulk.worstWindow <= bulk.rate);
  }
  if (several) {
    const best = several.ingest.best;
    const sqlite = best.sqlite;
    if (sqlite) row(`Ingest, messages only: ${MULTI_SETUPS.sqlite.label}`, rps(sqlite), '', '', '', undefined);
    for (const key of ['postgres1', 'postgres2']) {
      const r = best[key];
      if (!r) continue;
      const ratio = sqlite ? r.measured.rps / sqlite.measured.rps : undefined;
      const parts = r.measured.partRps.length > 1 ? ` (${r.measured.partRps.map((x) => fmt(x, 0)).join(' + ')})` : '';
      row(`Ingest, messages only: ${MULTI_SETUPS[key].label}${parts} vs one relay on SQLite`, rps(r), sqlite ? rps(sqlite) : '—', ratio ? times(ratio) : '', '', undefined);
    }
    for (const key of Object.keys(best)) {
      const worst = Math.max(...several.ingest.rounds.filter((x) => x.setup === key).map((x) => x.measured.latency.p99));
      row(`Relay latency p99, messages only, ${MULTI_SETUPS[key].label} (worst round)`, `${worst} ms`, '', '', '', undefined);
    }
    const all = several.ingest.rounds;
    if (all.length > 0) {
      const failures = all.reduce((n, x) => n + x.warmup.non2xx + x.warmup.errors + x.measured.non2xx + x.measured.errors, 0);
      const stored = all.reduce((n, x) => n + x.stored, 0);
      const answered = all.reduce((n, x) => n + x.answered2xx, 0);
      row('Multi-relay rounds: non-2xx + errors, stored rows = 2xx answers', `${failures}, ${stored} / ${answered}`, '', '', '0, equal', failures === 0 && all.every((x) => x.consistent));
    }
    const b = several.bulk;
    if (b) {
      const within = Math.abs(b.achievedRate - b.rate) / b.rate <= 0.02;
      row(`Two bulk senders on one number, one PostgreSQL (${b.received}/${b.rows} rows, --rate ${b.rate} each)`, `${fmt(b.achievedRate, 2)}/s together`, '', '', `${b.rate} ± 2 %`, within && b.received === b.rows && b.distinct === b.rows);
      row('Two bulk senders: worst 1-s window at the receiver', `${b.worstWindow} sends`, '', '', `≤ ${b.rate}`, b.worstWindow <= b.rate);
    }
  }
  return rows;
}

function fmt(value, digits) {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function markdownTable(rows) {
  const header = ['measure', 'lumen', 'baseline', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [r.measure, r.value, r.baseline, r.ratio, r.target, r.verdict === 'info' ? '—' : r.verdict]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

