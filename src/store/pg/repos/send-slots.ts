import type { PgDatabase } from '../db.js';
import type { SendSlotRepo } from '../../types.js';

/**
 * Send-rate slots shared by every host on the database, each taken in ONE statement, on the grid SQLite's statement
 * keeps (a send later than half an interval restarts the grid from now).
 *
 * The caller's clock (`nowMs`) is ignored here: "now" is the database's `clock_timestamp()` in milliseconds, so
 * senders on several hosts, whose clocks differ, share one grid. The wait returned is in the same clock.
 *
 * How the statement stays atomic across hosts: the keys' rows are locked (FOR UPDATE, in key order) before they are
 * read, so a second sender waits for the first one's commit and then sees the slot it moved. A key that has no row
 * yet cannot be locked: two first sends may both insert it, and then the conflict's WHERE (the slot is still due)
 * lets only one of them move it. A take counts only when it moved every key; when a first-send race moved some of
 * them, the caller waits a moment and asks again (a slot is lost, a rate is never exceeded).
 *
 * next_at_ms keeps the fraction of a millisecond (migration 003), as SQLite does.
 */
const TAKE = `
WITH now AS MATERIALIZED (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::double precision AS ms),
     wanted AS (SELECT * FROM unnest($1::text[], $2::double precision[]) AS w(key, interval_ms)),
     locked AS (SELECT key, next_at_ms FROM send_slots WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE),
     taken AS (
       INSERT INTO send_slots (key, next_at_ms)
       SELECT wanted.key, now.ms + wanted.interval_ms FROM wanted, now
        WHERE (SELECT COALESCE(MAX(next_at_ms), 0) FROM locked) <= now.ms
        ORDER BY wanted.key
       ON CONFLICT (key) DO UPDATE SET next_at_ms =
         CASE WHEN (SELECT ms FROM now) - send_slots.next_at_ms <= (excluded.next_at_ms - (SELECT ms FROM now)) / 2.0
              THEN send_slots.next_at_ms + (excluded.next_at_ms - (SELECT ms FROM now))
              ELSE excluded.next_at_ms END
        WHERE send_slots.next_at_ms <= (SELECT ms FROM now)
       RETURNING 1)
SELECT (SELECT COUNT(*) FROM taken) AS taken, (SELECT ms FROM now) AS now_ms,
       (SELECT COALESCE(MAX(next_at_ms), 0) FROM locked) AS next_at_ms`;

export function createSendSlotRepo(db: PgDatabase): SendSlotRepo {
  return {
    async take(keys, _nowMs) {
      if (keys.length === 0) return 0;
      const sorted = [...keys].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const row = await db.get<{ taken: number; now_ms: number; next_at_ms: number }>(TAKE, [
        sorted.map((k) => k.key),
        sorted.map((k) => k.intervalMs),
      ]);
      if (row!.taken === keys.length) return 0;
      return Math.max(1, Math.ceil(row!.next_at_ms - row!.now_ms));
    },
  };
}
