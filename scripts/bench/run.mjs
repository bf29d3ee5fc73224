// `npm run bench`: measures lumen against baselines taken in the same run on the same machine, prints a table with
// PASS/MISS per target (DESIGN.md §4) and writes bench/results.json. A missed target is a finding, not a failure:
// the exit code is 0 unless the bench itself could not run.
//
//   node --expose-gc scripts/bench/run.mjs [--only cold,bulk,ingest] [--keep]
//   BENCH_RELAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" … profiles the relay processes.
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, release } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { bulkSend, BULK_RATE, BULK_ROWS } from './bulk-send.mjs';
import { coldStart, COLD_START_ROUNDS } from './cold-start.mjs';
import { CONNECTIONS, ingestRound, MEASURE_SECONDS } from './ingest.mjs';
import { BASELINE_SERVER, connectedHome, LUMEN, ROOT, startServer } from './processes.mjs';

const MiB = 1024 * 1024;
const ROUNDS = 2;

const argv = process.argv.slice(2);
const onlyArg = argv.find((a) => a.startsWith('--only'));
const only = onlyArg ? new Set((onlyArg.includes('=') ? onlyArg.split('=')[1] : argv[argv.indexOf(onlyArg) + 1]).split(',')) : undefined;
const wants = (part) => !only || only.has(part);
const keep = argv.includes('--keep');
const relayNodeArgs = (process.env.BENCH_RELAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

const log = (line) => process.stderr.write(`${line}\n`);
const benchStarted = Date.now();

const { startSandbox } = await import(join(ROOT, 'dist', 'sandbox', 'index.js'));
const { signBody } = await import(join(ROOT, 'dist', 'relay', 'signature.js'));

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  totalMemoryMiB: Math.round(totalmem() / MiB),
  os: `${platform()} ${release()}`,
  node: process.version,
  date: new Date().toISOString(),
};
log(`lumen bench on ${machine.cpu} (${machine.cores} cores, ${machine.totalMemoryMiB} MiB), Node ${machine.node}`);

const sandbox = await startSandbox();
const { home, env, integrationId } = await connectedHome(sandbox);
const results = { machine, cold: undefined, bulk: undefined, ingest: undefined };

try {
  if (wants('cold')) {
    log(`cold start: node -e 0, lumen --help, lumen templates list × ${COLD_START_ROUNDS}, alternately…`);
    results.cold = coldStart(env);
  }
  if (wants('bulk')) {
    log(`bulk send: ${BULK_ROWS} rows at --rate ${BULK_RATE} against the sandbox (≈ ${Math.round(BULK_ROWS / BULK_RATE)} s)…`);
    results.bulk = await bulkSend({ sandbox, home, env });
  }
  if (wants('ingest')) results.ingest = await ingest();
} finally {
  await sandbox.close();
  if (!keep) rmSync(home, { recursive: true, force: true });
  else log(`kept LUMEN_HOME ${home}`);
}

const rows = targetRows(results);
const report = { ...results, targets: rows, benchSeconds: Math.round((Date.now() - benchStarted) / 1000) };
mkdirSync(join(ROOT, 'bench'), { recursive: true });
writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(report, null, 2)}\n`);

process.stdout.write(`\n${markdownTable(rows)}\n\n`);
process.stdout.write(`${machine.cpu}, ${machine.cores} cores, ${machine.totalMemoryMiB} MiB, Node ${machine.node}, ${machine.date}\n`);
const misses = rows.filter((r) => r.verdict === 'MISS');
for (const miss of misses) process.stdout.write(`MISS: ${miss.measure}: ${miss.value} (target ${miss.target})\n`);
process.stdout.write(misses.length === 0 ? 'All targets met.\n' : `${misses.length} target(s) missed.\n`);
log(`bench took ${report.benchSeconds} s; wrote bench/results.json`);

/**
 * Baseline and relay alternately, ROUNDS times each, under the identical load; the better round of each counts
 * (noise here is ±15 %). Every relay round starts a fresh `lumen relay start` on the same LUMEN_HOME; after it has
 * stopped, the rows it stored are counted and compared with the 2xx answers it gave.
 */
async function ingest() {
  const database = join(home, 'lumen.db');
  const countInteractions = () => {
    const db = new Database(database, { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT count(*) AS n FROM interactions').get().n;
    } finally {
      db.close();
    }
  };
  const path = `/webhooks/whatsapp/${integrationId}`;
  const baseline = [];
  const relay = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    log(`ingest round ${round}/${ROUNDS}: baseline (bare Fastify), ${CONNECTIONS} connections, ≈ ${MEASURE_SECONDS} s…`);
    const base = await startServer([BASELINE_SERVER], { env });
    let baseRound;
    try {
      baseRound = await ingestRound(`${base.url}${path}`, { sandbox, signBody, pid: base.pid });
    } finally {
      await base.stop();
    }
    baseline.push(baseRound);
    log(`  baseline ${Math.round(baseRound.measured.rps)} req/s, p99 ${baseRound.measured.latency.p99} ms`);

    log(`ingest round ${round}/${ROUNDS}: lumen relay start, ${CONNECTIONS} connections, ≈ ${MEASURE_SECONDS} s…`);
    const storedBefore = countInteractions();
    const server = await startServer(
      [...relayNodeArgs, LUMEN, 'relay', 'start', '--port', '0', '--json', '--quiet', '--rate-limit', '0', '--workspace-rate-limit', '0'],
      { env },
    );
    let relayRound;
    let exit;
    let walBytes;
    const stopping = { at: 0 };
    try {
      relayRound = await ingestRound(`${server.url}${path}`, { sandbox, signBody, pid: server.pid });
      walBytes = fileSize(`${database}-wal`);
    } finally {
      stopping.at = performance.now();
      exit = await server.stop(); // SIGINT: the relay finishes its commits before it exits
    }
    const stopMs = performance.now() - stopping.at;
    const stored = countInteractions() - storedBefore;
    const answered2xx = relayRound.warmup.ok + relayRound.measured.ok;
    relay.push({ ...relayRound, stored, answered2xx, walBytes, stopMs, exit, stderr: server.stderr().slice(-4000) });
    log(`  relay ${Math.round(relayRound.measured.rps)} req/s, p99 ${relayRound.measured.latency.p99} ms, stored ${stored} of ${answered2xx} answered 2xx`);
    if (exit.code !== 0) log(`  the relay exited ${exit.code ?? exit.signal} on SIGINT:\n${server.stderr().slice(-2000)}`);
  }
  const best = (runs) => runs.reduce((a, b) => (b.measured.rps > a.measured.rps ? b : a));
  return { connections: CONNECTIONS, baseline, relay, bestBaseline: best(baseline), bestRelay: best(relay) };
}

function targetRows({ cold, bulk, ingest: load }) {
  const rows = [];
  const row = (measure, value, baseline, ratio, target, pass) =>
    rows.push({ measure, value, baseline, ratio, target, verdict: pass === undefined ? 'info' : pass ? 'PASS' : 'MISS' });
  if (load) {
    const b = load.bestBaseline.measured;
    const r = load.bestRelay.measured;
    const ratio = r.rps / b.rps;
    row('Relay ingest (req/s, 50 conns)', fmt(r.rps, 0), fmt(b.rps, 0), `${ratio.toFixed(2)}×`, '≥ 0.50×', ratio >= 0.5);
    row('Relay latency p50', `${r.latency.p50} ms`, `${b.latency.p50} ms`, '', '', undefined);
    row('Relay latency p99', `${r.latency.p99} ms`, `${b.latency.p99} ms`, '', '< 25 ms', r.latency.p99 < 25);
    const failures = load.relay.reduce(
      (n, x) => n + x.warmup.non2xx + x.warmup.errors + x.measured.non2xx + x.measured.errors,
      0,
    );
    row('Relay non-2xx + errors (all rounds)', String(failures), '', '', '= 0', failures === 0);
    const stored = load.relay.reduce((n, x) => n + x.stored, 0);
    const answered = load.relay.reduce((n, x) => n + x.answered2xx, 0);
    const consistent = load.relay.every((x) => x.stored === x.answered2xx && !x.warmup.exhausted && !x.measured.exhausted);
    row('Stored interactions = 2xx answers', `${stored} / ${answered}`, '', '', 'equal', consistent);
    if (r.serverCpuUsPerRequest !== undefined && b.serverCpuUsPerRequest !== undefined) {
      const cpu = r.serverCpuUsPerRequest / b.serverCpuUsPerRequest;
      row('Server CPU per request (best rounds)', `${fmt(r.serverCpuUsPerRequest, 1)} µs`, `${fmt(b.serverCpuUsPerRequest, 1)} µs`, `${cpu.toFixed(2)}×`, '', undefined);
    }
    const rss = Math.max(...load.relay.map((x) => x.maxRss ?? 0)) / MiB;
    const baseRss = Math.max(...load.baseline.map((x) => x.maxRss ?? 0)) / MiB;
    row('Relay max RSS under load', `${fmt(rss, 1)} MiB`, `${fmt(baseRss, 1)} MiB`, '', '< 120 MiB', rss < 120);
    const wal = Math.max(...load.relay.map((x) => x.walBytes ?? 0)) / MiB;
    row('Relay WAL file after a round', `${fmt(wal, 0)} MiB`, '', '', '', undefined);
    const stopMs = Math.max(...load.relay.map((x) => x.stopMs));
    row('Relay SIGINT → exit after a round', `${fmt(stopMs, 0)} ms`, '', '', '', undefined);
  }
  if (cold) {
    const node = cold.node.medianMs;
    const help = cold.help.medianMs / node;
    const list = cold.templatesList.medianMs / node;
    row('Cold start `lumen --help`', `${fmt(cold.help.medianMs, 0)} ms`, `${fmt(node, 0)} ms`, `${help.toFixed(2)}×`, '≤ 1.40×', help <= 1.4);
    row('Cold start `lumen templates list`', `${fmt(cold.templatesList.medianMs, 0)} ms`, `${fmt(node, 0)} ms`, `${list.toFixed(2)}×`, '', undefined);
  }
  if (bulk) {
    const within = Math.abs(bulk.achievedRate - bulk.rate) / bulk.rate <= 0.02;
    row(`Bulk send rate (${bulk.received}/${bulk.rows} rows, --rate ${bulk.rate})`, `${fmt(bulk.achievedRate, 2)}/s`, '', '', `${bulk.rate} ± 2 %`, within && bulk.received === bulk.rows);
    row('Bulk send worst 1-s window', `${bulk.worstWindow} sends`, '', '', `≤ ${bulk.rate}`, bulk.worstWindow <= bulk.rate);
  }
  return rows;
}

function fileSize(path) {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
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
