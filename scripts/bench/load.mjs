// One measured ingest round: one server, one workload, from an empty store. Servers, each its own process (the
// load generator is this process), one at a time:
//   bare            scripts/bench/baseline-server.mjs: a bare Fastify POST route (the stack's ceiling; stores nothing)
//   lumen           `lumen relay start` on a freshly connected LUMEN_HOME (for the mix, with the sent messages the
//                   statuses name seeded into outbound_messages first)
//   whatsapp-api-js whatsapp-api-js's node:http middleware + one better-sqlite3 insert per message / status
//   express         a hand-written Express 5 route + the same inserts
// After the round the server is stopped (SIGINT) and its database opened read-only: the rows it stored must equal
// the 2xx answers it gave (every delivery of both workloads carries exactly one message or one status).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeDeliveries, OutboundPool, outboundNeeded } from './deliveries.mjs';
import { ingestRound, MAX_ROUND_REQUESTS } from './ingest.mjs';
import { countPeerRows } from './peers/peer-store.mjs';
import {
  BASELINE_SERVER,
  EXPRESS_SERVER,
  LUMEN,
  makeTemporaryDir,
  removeTemporaryDir,
  startServer,
  WHATSAPP_API_JS_SERVER,
} from './processes.mjs';
import { countStored, outboundStates, seedOutbound } from './seed.mjs';

export const SERVERS = {
  bare: { label: 'bare Fastify route' },
  lumen: { label: 'lumen relay' },
  'whatsapp-api-js': { label: 'whatsapp-api-js + SQLite', script: WHATSAPP_API_JS_SERVER },
  express: { label: 'Express 5 + SQLite', script: EXPRESS_SERVER },
};
export const PEERS = ['whatsapp-api-js', 'express'];

export const RELAY_ARGS = ['relay', 'start', '--port', '0', '--json', '--quiet', '--rate-limit', '0', '--workspace-rate-limit', '0'];
const PEER_PATH = '/webhooks/whatsapp/bench';

/**
 * ctx: { meta: {appSecret, phoneNumberId, wabaId}, newHome() (lumen only: a connected home), relayNodeArgs, keep, log }
 */
export async function loadRound(server, workload, ctx) {
  // The mix's statuses name sent messages: one pool of wamids per round, seeded into lumen's outbound_messages.
  const outbound = workload === 'mix' ? new OutboundPool(outboundNeeded(MAX_ROUND_REQUESTS)) : undefined;
  const make = (count) => makeDeliveries(count, { meta: ctx.meta, workload, outbound });
  if (server === 'lumen') return lumenRound(workload, ctx, make, outbound);
  if (server === 'bare') {
    const base = await startServer([BASELINE_SERVER], { env: process.env });
    try {
      return { server, workload, startMs: base.startMs, ...(await ingestRound(`${base.url}${PEER_PATH}`, { make, pid: base.pid })) };
    } finally {
      await base.stop();
    }
  }
  const dir = makeTemporaryDir(`lumen-bench-${server}-`);
  const database = join(dir, 'peer.db');
  const env = { ...process.env, BENCH_PEER_DB: database, BENCH_APP_SECRET: ctx.meta.appSecret };
  try {
    const peer = await startServer([SERVERS[server].script], { env });
    let round;
    let exit;
    try {
      round = await ingestRound(`${peer.url}${PEER_PATH}`, { make, pid: peer.pid });
    } finally {
      exit = await peer.stop();
    }
    const rows = countPeerRows(database);
    return {
      server,
      workload,
      startMs: peer.startMs,
      ...round,
      ...storedCheck(round, rows.messages + rows.statuses),
      storedRows: rows,
      exit,
      stderr: peer.stderr().slice(-4000),
    };
  } finally {
    removeTemporaryDir(dir);
  }
}

async function lumenRound(workload, ctx, make, outbound) {
  const { home, env, integrationId } = await ctx.newHome();
  const database = join(home, 'lumen.db');
  try {
    const seeded = outbound ? seedOutbound(database, integrationId, outbound) : undefined;
    const before = countStored(database);
    const relay = await startServer([...ctx.relayNodeArgs, LUMEN, ...RELAY_ARGS], { env });
    let round;
    let exit;
    let walBytes;
    let stopAt;
    try {
      round = await ingestRound(`${relay.url}/webhooks/whatsapp/${integrationId}`, { make, pid: relay.pid });
      walBytes = fileSize(`${database}-wal`);
    } finally {
      stopAt = performance.now();
      exit = await relay.stop(); // SIGINT: the relay finishes its commits before it exits
    }
    const stopMs = performance.now() - stopAt;
    const after = countStored(database);
    const storedRows = { messages: after.interactions - before.interactions, statuses: after.statuses - before.statuses };
    if (exit.code !== 0) ctx.log(`  the relay exited ${exit.code ?? exit.signal} on SIGINT:\n${relay.stderr().slice(-2000)}`);
    return {
      server: 'lumen',
      workload,
      startMs: relay.startMs,
      ...round,
      ...storedCheck(round, storedRows.messages + storedRows.statuses),
      storedRows,
      ...(seeded ? { outboundSeeded: seeded.rows, outboundStates: outboundStates(database) } : {}),
      walBytes,
      stopMs,
      exit,
      stderr: relay.stderr().slice(-4000),
    };
  } finally {
    if (!ctx.keep) removeTemporaryDir(home);
    else ctx.log(`  kept LUMEN_HOME ${home}`);
  }
}

function storedCheck(round, stored) {
  const answered2xx = round.warmup.ok + round.measured.ok;
  return { stored, answered2xx, consistent: stored === answered2xx && !round.warmup.exhausted && !round.measured.exhausted };
}

export function fileSize(path) {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
