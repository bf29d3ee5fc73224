import type { PgDatabase } from '../db.js';
import { nextGridSlot, sendSlotWaitMs, sendsPerSecond, type SendKeyState } from '../../repos/send-slots.js';
import type { SendSlotKey, SendSlotRepo } from '../../types.js';

/**
 * Send-rate slots shared by every host on the database, with SQLite's rules (sendSlotWaitMs: the grid is due, and
 * fewer than R of the key's sends may still reach Meta within a second).
 *
 * The caller's clock (`nowMs`) is ignored here: "now" is the database's `clock_timestamp()` in milliseconds, for the
 * slots taken and the answers alike, so senders on several hosts, whose clocks differ, share one grid and one log.
 * The wait returned is in the same clock.
 *
 * How a take stays atomic across hosts: in one transaction, the keys' slot rows are locked first (created if new, in
 * key order, so two takes never wait for each other crosswise), and only then read together with the log, by a
 * statement whose snapshot sees whatever the previous holder of the locks wrote; a take that finds a key not free
 * writes nothing. Each process asks for one number's slots one sender at a time (takeSendSlot), so a number's row
 * sees a queue of at most one take per process (a workspace's row one per process and number). A sender asking
 * again after a wait first reads without the locks, and most of those that must wait once more go back at once (a
 * grid only moves later and an answer only comes later, so a wait read a moment ago is at most that moment too
 * long): however many hosts poll, the locks are taken by the ones likely to get the slot. A first ask goes straight
 * to the locks, which saves the round trip on the takes that succeed.
 */
const READ = `
WITH now AS MATERIALIZED (SELECT extract(epoch FROM clock_timestamp())::double precision * 1000 AS ms)
SELECT now.ms AS now_ms, w.key, s.next_at_ms, COALESCE(last.seq, 0) AS last_seq, holding.n AS holding,
       leaving.free_at_ms, leaving.answered_at_ms IS NOT NULL AS answered
  FROM now, unnest($1::text[], $2::int[]) AS w(key, per_second)
  LEFT JOIN send_slots s ON s.key = w.key
  LEFT JOIN LATERAL (SELECT max(seq) AS seq FROM send_log l WHERE l.key = w.key) last ON true
  CROSS JOIN LATERAL (SELECT count(*)::int AS n FROM send_log l WHERE l.key = w.key AND l.free_at_ms >= now.ms - 1000) holding
  LEFT JOIN LATERAL (
    SELECT free_at_ms, answered_at_ms FROM send_log l
     WHERE holding.n >= w.per_second AND l.key = w.key AND l.free_at_ms >= now.ms - 1000
     ORDER BY free_at_ms LIMIT 1 OFFSET GREATEST(holding.n - w.per_second, 0)) leaving ON true`;

/** Locks each key's slot row, inserting it when new; an existing row is locked and left as it is (WHERE false). */
const LOCK = `
INSERT INTO send_slots (key, next_at_ms) SELECT key, 0 FROM unnest($1::text[]) AS w(key) ORDER BY key
ON CONFLICT (key) DO UPDATE SET next_at_ms = send_slots.next_at_ms WHERE false`;

const WRITE = `
WITH w AS (SELECT * FROM unnest($1::text[], $2::double precision[], $3::bigint[]) AS w(key, next_at_ms, seq)),
     moved AS (UPDATE send_slots s SET next_at_ms = w.next_at_ms FROM w WHERE s.key = w.key),
     pruned AS (DELETE FROM send_log l USING w WHERE l.key = w.key AND l.free_at_ms < $4::double precision - 1000)
INSERT INTO send_log (key, seq, taken_at_ms, free_at_ms) SELECT key, seq, $4, $4::double precision + $5 FROM w`;

const ANSWER = `
WITH now AS MATERIALIZED (SELECT extract(epoch FROM clock_timestamp())::double precision * 1000 AS ms)
UPDATE send_log SET answered_at_ms = now.ms, free_at_ms = LEAST(free_at_ms, now.ms)
  FROM now WHERE key = $1 AND seq = $2 AND answered_at_ms IS NULL`;

interface ReadRow {
  now_ms: number;
  key: string;
  next_at_ms: number | null;
  last_seq: number;
  holding: number;
  free_at_ms: number | null;
  answered: boolean | null;
}

type Query = (sql: string, params: unknown[]) => Promise<ReadRow[]>;

/** Now on the database's clock, and each key's state, in the order of `keys`. */
async function read(query: Query, keys: SendSlotKey[]): Promise<{ nowMs: number; states: SendKeyState[] }> {
  const rows = new Map((await query(READ, [keys.map((k) => k.key), keys.map(sendsPerSecond)])).map((row) => [row.key, row]));
  const states = keys.map((key): SendKeyState => {
    const row = rows.get(key.key)!;
    return {
      nextAtMs: row.next_at_ms,
      lastSeq: row.last_seq,
      holding: row.holding,
      leaving: row.free_at_ms === null ? undefined : { freeAtMs: row.free_at_ms, answered: row.answered === true },
    };
  });
  return { nowMs: rows.get(keys[0]!.key)!.now_ms, states };
}

export function createSendSlotRepo(db: PgDatabase): SendSlotRepo {
  return {
    async take(unsorted, { longestSendMs, again = false }) {
      if (unsorted.length === 0) return { taken: true, token: { sends: [] } };
      const keys = [...unsorted].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      if (again) {
        const glance = await read((sql, params) => db.all<ReadRow>(sql, params), keys);
        const waitMs = sendSlotWaitMs(glance.states, glance.nowMs);
        if (waitMs > 0) return { taken: false, waitMs };
      }
      return db.tx(async (client) => {
        await client.query(LOCK, [keys.map((k) => k.key)]);
        const { nowMs, states } = await read(async (sql, params) => (await client.query<ReadRow>(sql, params)).rows, keys);
        const waitMs = sendSlotWaitMs(states, nowMs);
        if (waitMs > 0) return { taken: false as const, waitMs };
        const sends = keys.map((key, i) => ({ key: key.key, seq: states[i]!.lastSeq + 1 }));
        await client.query(WRITE, [
          keys.map((k) => k.key),
          keys.map((k, i) => nextGridSlot(states[i]!.nextAtMs, k.intervalMs, nowMs)),
          sends.map((s) => s.seq),
          nowMs,
          longestSendMs,
        ]);
        return { taken: true as const, token: { sends } };
      });
    },
    async answered(token) {
      // One statement per key's row: each holds one row lock at a time, so it never deadlocks with a take pruning rows.
      await Promise.all(token.sends.map(({ key, seq }) => db.run(ANSWER, [key, seq])));
    },
  };
}
