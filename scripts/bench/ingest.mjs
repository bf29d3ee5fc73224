// Ingest under autocannon: signed deliveries (deliveries.mjs), pre-generated and pre-signed so that building them
// never loads the generator during a measurement. Every server (lumen, the peers, the bare route) gets the very same
// load: the same connections, amounts, bodies and signatures.
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { readCpuMs, readRss } from './processes.mjs';

export const CONNECTIONS = 50;
/**
 * Requests of the first warm-up pass, and the least of the second pass and of the measured run. The second pass is
 * sized to last ≈ WARMUP_SECONDS at the first one's rate; its rate sizes the measured run. (Sized by time, so a
 * 2,000 req/s peer does not spend a minute warming up, and a 35,000 req/s relay still gets seconds of it.)
 */
export const WARMUP_REQUESTS = 15_000;
export const WARMUP_SECONDS = 3;
const MAX_WARMUP_REQUESTS = 150_000;
/** Target length of a measured run. */
export const MEASURE_SECONDS = 10;
/** autocannon builds each connection's next request before it is needed: a little more than `amount` is drawn. */
export const POOL_SLACK = 4 * CONNECTIONS;
export const MAX_REQUESTS = 500_000;
/** Deliveries one round draws at most (warm-ups and measured run): what an OutboundPool must hold for the mix. */
export const MAX_ROUND_REQUESTS = WARMUP_REQUESTS + MAX_WARMUP_REQUESTS + MAX_REQUESTS + 3 * POOL_SLACK;

const sized = (rps, seconds, most) => Math.max(WARMUP_REQUESTS, Math.min(most, Math.round(rps * seconds)));

/**
 * Sends exactly `deliveries.bodies.length - POOL_SLACK` POSTs over `connections` keep-alive connections and waits for every
 * answer (autocannon's `amount` mode: nothing is cut off in flight, so 2xx answers can be compared with rows stored).
 * The rate is answers / (last answer − start), not autocannon's per-second samples, whose last one is partial.
 */
export function fire(url, deliveries, connections = CONNECTIONS) {
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
      { url, connections, amount, method: 'POST', timeout: 10, requests: [{ setupRequest }] },
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
 * warm-up's rate. `make(count)` builds the signed deliveries of each pass (makeDeliveries of one workload). With
 * `pid`, VmRSS is sampled every 200 ms from the warm-up to the end.
 */
export async function ingestRound(url, { make, pid }) {
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
    const warmups = [await fire(url, make(WARMUP_REQUESTS + POOL_SLACK))];
    warmups.push(await fire(url, make(sized(warmups[0].rps, WARMUP_SECONDS, MAX_WARMUP_REQUESTS) + POOL_SLACK)));
    const warmup = sumRuns(warmups);
    const amount = sized(warmups[1].rps, MEASURE_SECONDS, MAX_REQUESTS);
    const deliveries = make(amount + POOL_SLACK);
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
