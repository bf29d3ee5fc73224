// Several relays on one PostgreSQL, next to one relay on SQLite, under the same load (the `multi` part):
//   ingest  messages only, CONNECTIONS connections in all, from an empty store each round: one relay on SQLite, one
//           relay on PostgreSQL, and two relays on one PostgreSQL (two LUMEN_HOMEs, as two hosts) with the
//           connections split between them (no proxy in the way: its work would land on the load generator's core).
//           Every server gets the same warm-ups and a measured run sized to ≈ MEASURE_SECONDS; rows stored in the
//           database must equal the 2xx answers.
//   bulk    two `lumen send --csv` processes (two homes, one database, one number) at the same --rate, at once: the
//           send slots in the database hold the rate for both together, judged at the sandbox (worst 1-s window).
// The PostgreSQL server is the bench's own (scripts/postgres-server.mjs) in a temporary folder, with fsync on and
// synchronous_commit off: a relay killed loses nothing acknowledged, as with SQLite's WAL at synchronous=NORMAL;
// a crash of the machine may lose the last commits in both.
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPostgresServer } from '../postgres-server.mjs';
import { makeDeliveries } from './deliveries.mjs';
import { CONNECTIONS, fire, MEASURE_SECONDS, POOL_SLACK, WARMUP_REQUESTS, WARMUP_SECONDS } from './ingest.mjs';
import { RELAY_ARGS } from './load.mjs';
import { connectedHome, LUMEN, makeTemporaryDir, removeTemporaryDir, runProcess, startServer } from './processes.mjs';
import { countStored } from './seed.mjs';
import { maxInWindow } from './stats.mjs';

export const MULTI_SETUPS = {
  sqlite: { label: 'one relay on SQLite', relays: 1, postgres: false },
  postgres1: { label: 'one relay on PostgreSQL', relays: 1, postgres: true },
  postgres2: { label: 'two relays on one PostgreSQL', relays: 2, postgres: true },
};
/** Rows each of the two bulk senders sends (two senders: twice this many at the rate). */
export const MULTI_BULK_ROWS = 300;
export const MULTI_BULK_RATE = 80;
const MAX_MEASURED = 400_000;

/**
 * ctx: { sandbox, meta, relayNodeArgs, keep, log, rounds }. Resolves with `{ ingest: {rounds, best}, bulk }`; a setup
 * that fails is reported in `errors` and left out of later rounds.
 */
export async function multi(ctx) {
  const server = await startPostgresServer({ settings: { fsync: 'on', full_page_writes: 'on', synchronous_commit: 'off' } });
  if (server.url === undefined) throw new Error(`no PostgreSQL server for the bench: ${server.skip}`);
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  let databases = 0;
  const newDatabase = async () => {
    const name = `lumen_bench_${++databases}`;
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(server.url);
    url.pathname = `/${name}`;
    return url.toString();
  };
  const errors = [];
  try {
    const rounds = [];
    const broken = new Set();
    for (let round = 1; round <= ctx.rounds; round += 1) {
      for (const [key, setup] of Object.entries(MULTI_SETUPS)) {
        if (broken.has(key)) continue;
        ctx.log(`multi round ${round}/${ctx.rounds}: ${setup.label}, messages only, ${CONNECTIONS} connections in all, ≈ ${MEASURE_SECONDS} s…`);
        try {
          const r = await setupRound(key, setup, ctx, setup.postgres ? await newDatabase() : undefined, pg);
          rounds.push({ round, ...r });
          ctx.log(`  ${Math.round(r.measured.rps)} req/s, p99 ${r.measured.latency.p99} ms, stored ${r.stored} of ${r.answered2xx} answered 2xx`);
        } catch (error) {
          broken.add(key);
          errors.push({ part: `multi: ${setup.label}`, message: String(error?.message ?? error).slice(0, 4000) });
        }
      }
    }
    const best = {};
    for (const key of Object.keys(MULTI_SETUPS)) {
      const runs = rounds.filter((r) => r.setup === key);
      if (runs.length > 0) best[key] = runs.reduce((a, b) => (b.measured.rps > a.measured.rps ? b : a));
    }
    let bulk;
    ctx.log(`multi bulk: two senders × ${MULTI_BULK_ROWS} rows at --rate ${MULTI_BULK_RATE} on one number, one PostgreSQL…`);
    try {
      bulk = await twoBulkSenders(ctx, await newDatabase());
      ctx.log(`  ${bulk.achievedRate.toFixed(2)}/s together, worst 1-s window ${bulk.worstWindow}`);
    } catch (error) {
      errors.push({ part: 'multi: two bulk senders', message: String(error?.message ?? error).slice(0, 4000) });
    }
    return { ingest: { connections: CONNECTIONS, rounds, best }, bulk, errors };
  } finally {
    await admin.end().catch(() => {});
    server.remove();
  }
}

/** A second host's home on the same database: its own folder, the first home's secret files copied in. */
function anotherHost(first) {
  const home = makeTemporaryDir('lumen-bench-host-');
  for (const file of ['secrets.enc.json', 'secrets.key']) {
    if (existsSync(join(first.home, file))) copyFileSync(join(first.home, file), join(home, file));
  }
  return { home, env: { ...first.env, LUMEN_HOME: home }, integrationId: first.integrationId };
}

async function setupRound(key, setup, ctx, databaseUrl, pg) {
  const first = await connectedHome(ctx.sandbox, databaseUrl ? { LUMEN_DATABASE_URL: databaseUrl } : {});
  const hosts = [first];
  for (let i = 1; i < setup.relays; i += 1) hosts.push(anotherHost(first));
  const relays = [];
  try {
    for (const host of hosts) relays.push(await startServer([...ctx.relayNodeArgs, LUMEN, ...RELAY_ARGS], { env: host.env }));
    const urls = relays.map((r) => `${r.url}/webhooks/whatsapp/${first.integrationId}`);
    const make = (count) => makeDeliveries(count, { meta: ctx.meta, workload: 'messages' });
    const round = await splitRound(urls, make);
    const exits = [];
    for (const relay of relays.splice(0)) exits.push(await relay.stop());
    const stored = databaseUrl ? await countPg(pg, databaseUrl) : countStored(join(first.home, 'lumen.db')).interactions;
    const answered2xx = round.warmup.ok + round.measured.ok;
    return { setup: key, relays: setup.relays, ...round, stored, answered2xx, consistent: stored === answered2xx, exits };
  } finally {
    for (const relay of relays) await relay.stop().catch(() => {});
    for (const host of hosts) {
      if (!ctx.keep) removeTemporaryDir(host.home);
    }
  }
}

async function countPg(pg, url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT count(*)::int AS n FROM interactions')).rows[0].n;
  } finally {
    await client.end();
  }
}

/**
 * Two warm-up passes and a measured run, each split evenly over `urls` (CONNECTIONS connections in all), fired at
 * once. The combined rate is all 2xx answers over the longer of the parts; latency percentiles are the worse part's.
 */
async function splitRound(urls, make) {
  const connections = Math.floor(CONNECTIONS / urls.length);
  const fireAll = async (total) => {
    const share = Math.ceil(total / urls.length);
    const sets = urls.map(() => make(share + POOL_SLACK));
    globalThis.gc?.();
    return combine(await Promise.all(urls.map((url, i) => fire(url, sets[i], connections))));
  };
  const sized = (rps, seconds, most) => Math.max(WARMUP_REQUESTS, Math.min(most, Math.round(rps * seconds)));
  const first = await fireAll(WARMUP_REQUESTS);
  const second = await fireAll(sized(first.rps, WARMUP_SECONDS, 150_000));
  const measured = await fireAll(sized(second.rps, MEASURE_SECONDS, MAX_MEASURED));
  const warmup = {
    ok: first.ok + second.ok,
    non2xx: first.non2xx + second.non2xx,
    errors: first.errors + second.errors,
  };
  return { warmup, measured };
}

function combine(runs) {
  const sum = (key) => runs.reduce((n, r) => n + r[key], 0);
  const seconds = Math.max(...runs.map((r) => r.seconds));
  const worst = (key) => Math.max(...runs.map((r) => r.latency[key]));
  return {
    parts: runs.length,
    requests: sum('requests'),
    ok: sum('ok'),
    non2xx: sum('non2xx'),
    errors: sum('errors'),
    timeouts: sum('timeouts'),
    seconds,
    rps: seconds > 0 ? sum('ok') / seconds : 0,
    partRps: runs.map((r) => r.rps),
    latency: { p50: worst('p50'), p90: worst('p90'), p99: worst('p99'), max: worst('max') },
    exhausted: runs.some((r) => r.exhausted),
  };
}

/** Two `lumen send --csv` at --rate R from two homes on one database, at once, judged where the sends arrive. */
async function twoBulkSenders(ctx, databaseUrl, rows = MULTI_BULK_ROWS, rate = MULTI_BULK_RATE) {
  const first = await connectedHome(ctx.sandbox, { LUMEN_DATABASE_URL: databaseUrl });
  const hosts = [first, anotherHost(first)];
  try {
    const lists = hosts.map((host, h) => {
      const numbers = Array.from({ length: rows }, (_, i) => `+1555${3 + h}00${String(i).padStart(4, '0')}`);
      const csv = join(host.home, 'bench-bulk.csv');
      writeFileSync(csv, `to\n${numbers.join('\n')}\n`);
      return { numbers, csv };
    });
    const before = ctx.sandbox.sent().length;
    const results = await Promise.all(
      hosts.map((host, h) =>
        runProcess(
          [LUMEN, 'send', '--csv', lists[h].csv, '--template', 'hello_world', '--lang', 'en_US', '--rate', String(rate), '--json', '--no-input'],
          { env: host.env },
        ),
      ),
    );
    for (const result of results) {
      if (result.code !== 0) throw new Error(`lumen send --csv exited ${result.code ?? result.signal}:\n${result.stderr}${result.stdout.slice(-2000)}`);
    }
    const wanted = new Set(lists.flatMap((l) => l.numbers.map((n) => n.slice(1))));
    const accepted = ctx.sandbox
      .sent()
      .slice(before)
      .filter((s) => s.outcome.result === 'accepted' && wanted.has(s.waId));
    const times = accepted.map((s) => s.at).sort((a, b) => a - b);
    const spanMs = times.length > 1 ? times.at(-1) - times[0] : 0;
    return {
      senders: hosts.length,
      rows: rows * hosts.length,
      rate,
      received: accepted.length,
      distinct: new Set(accepted.map((s) => s.waId)).size,
      spanMs,
      achievedRate: spanMs > 0 ? ((times.length - 1) * 1000) / spanMs : 0,
      worstWindow: maxInWindow(times, 1000),
    };
  } finally {
    for (const host of hosts) {
      if (!ctx.keep) removeTemporaryDir(host.home);
    }
  }
}
