// Relay ingest under autocannon: signed, unique inbound text messages, pre-generated and pre-signed so that
// building them never loads the generator during a measurement. The baseline gets the very same requests.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { readCpuMs, readRss } from './processes.mjs';

export const CONNECTIONS = 50;
/** Requests of each of the two warm-up passes; the second one's rate sizes the measured run. */
export const WARMUP_REQUESTS = 30_000;
/** Target length of a measured run. */
export const MEASURE_SECONDS = 10;
/** autocannon builds each connection's next request before it is needed: a little more than `amount` is drawn. */
const POOL_SLACK = 4 * CONNECTIONS;
const MAX_REQUESTS = 500_000;

let batch = 0;

/**
 * `count` deliveries of one text message each, as Meta sends them: wamids shaped like Meta's (base64 of the sender
 * and random bytes, so they land all over the unique index like real ones), unique by construction (a counter
 * over the whole bench run), 1,000 distinct senders, signed with the app secret. Bodies and signatures are kept as
 * two string arrays.
 */
export function makeDeliveries(count, { sandbox, signBody }) {
  batch += 1;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const random = randomBytes(count * 6);
  const bodies = new Array(count);
  const signatures = new Array(count);
  for (let i = 0; i < count; i += 1) {
    const from = String(15551000000 + (i % 1000));
    const unique = Buffer.alloc(6);
    unique.writeUInt16BE(batch);
    unique.writeUInt32BE(i, 2);
    const wamid = `wamid.${Buffer.concat([Buffer.from(`\u0018\f${from}\u0015\u0002\u0000\u0012\u0018\u0014`, 'latin1'), random.subarray(i * 6, i * 6 + 6), unique]).toString('base64')}`;
    const body =
      `{"object":"whatsapp_business_account","entry":[{"id":"${sandbox.wabaId}","changes":[{"value":` +
      `{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550104242","phone_number_id":"${sandbox.phoneNumberId}"},` +
      `"contacts":[{"profile":{"name":"Bench User ${i % 1000}"},"wa_id":"${from}"}],` +
      `"messages":[{"from":"${from}","id":"${wamid}","timestamp":"${timestamp}",` +
      `"text":{"body":"Hello! This is benchmark message number ${i}."},"type":"text"}]},"field":"messages"}]}]}`;
    bodies[i] = body;
    signatures[i] = signBody(body, sandbox.appSecret);
  }
  return { bodies, signatures };
}

/**
 * Sends exactly `deliveries.bodies.length` POSTs over CONNECTIONS keep-alive connections and waits for every
 * answer (autocannon's `amount` mode: nothing is cut off in flight, so 2xx answers can be compared with rows stored).
 * The rate is answers / (last answer − start), not autocannon's per-second samples, whose last one is partial.
 */
export function fire(url, deliveries) {
  const { bodies, signatures } = deliveries;
  const amount = bodies.length - POOL_SLACK;
  let next = 0;
  let exhausted = false;
  const setupRequest = (request) => {
    let i = next++;
    if (i >= bodies.length) {
      exhausted = true; // never expected; would repeat wamids
      i %= bodies.length;
    }
    return {
      ...request,
      method: 'POST',
      body: bodies[i],
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signatures[i] },
    };
  };
  return new Promise((resolve, reject) => {
    let ok = 0;
    let last = 0;
    const started = performance.now();
    const tracker = autocannon(
      { url, connections: CONNECTIONS, amount, method: 'POST', timeout: 10, requests: [{ setupRequest }] },
      (error, result) => {
        if (error) return reject(error);
        const seconds = (last - started) / 1000;
        resolve({
          requests: amount,
          ok,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          seconds,
          rps: seconds > 0 ? ok / seconds : 0,
          latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
          exhausted,
        });
      },
    );
    tracker.on('response', (_client, statusCode) => {
      last = performance.now();
      if (statusCode >= 200 && statusCode < 300) ok += 1;
    });
  });
}

/**
 * One round against a server that is already listening: warm-up, then a run sized to last ≈ MEASURE_SECONDS at the
 * warm-up's rate. With `pid`, VmRSS is sampled every 200 ms from the warm-up to the end.
 */
export async function ingestRound(url, { sandbox, signBody, pid }) {
  let maxRss = 0;
  const sample = () => {
    const rss = pid === undefined ? undefined : readRss(pid);
    if (rss !== undefined && rss > maxRss) maxRss = rss;
  };
  sample();
  const sampler = pid === undefined ? undefined : setInterval(sample, 200);
  try {
    // Two warm-up passes: the first JIT-compiles the server (and, in the first round, autocannon); the second's
    // rate is steady enough to size the measured run.
    const warmups = [];
    for (let pass = 0; pass < 2; pass += 1) {
      warmups.push(await fire(url, makeDeliveries(WARMUP_REQUESTS + POOL_SLACK, { sandbox, signBody })));
    }
    const warmup = sumRuns(warmups);
    const amount = Math.max(WARMUP_REQUESTS, Math.min(MAX_REQUESTS, Math.round(warmups[1].rps * MEASURE_SECONDS)));
    const deliveries = makeDeliveries(amount + POOL_SLACK, { sandbox, signBody });
    globalThis.gc?.(); // the warm-up's pool must not be collected in the middle of the measurement
    const cpuBefore = pid === undefined ? undefined : readCpuMs(pid);
    const measured = await fire(url, deliveries);
    const cpuAfter = pid === undefined ? undefined : readCpuMs(pid);
    sample();
    // CPU per answered request: far steadier than requests/s on a shared 2-core box.
    if (cpuBefore !== undefined && cpuAfter !== undefined && measured.ok > 0) {
      measured.serverCpuUsPerRequest = ((cpuAfter - cpuBefore) * 1000) / measured.ok;
    }
    return { warmup, measured, maxRss: pid === undefined ? undefined : maxRss };
  } finally {
    if (sampler) clearInterval(sampler);
  }
}

/** The warm-up passes' counts added up (their 2xx answers are stored rows too). */
function sumRuns(runs) {
  const total = (key) => runs.reduce((n, r) => n + r[key], 0);
  return {
    passes: runs.length,
    requests: total('requests'),
    ok: total('ok'),
    non2xx: total('non2xx'),
    errors: total('errors'),
    timeouts: total('timeouts'),
    seconds: total('seconds'),
    rps: runs.at(-1).rps,
    exhausted: runs.some((r) => r.exhausted),
  };
}
