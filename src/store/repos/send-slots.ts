import type { Database } from '../db.js';
import type { SendSlotKey, SendSlotRepo, SendSlotTake } from '../types.js';

/** What a take reads of one key, at `nowMs`. */
export interface SendKeyState {
  /** The grid's next slot; null for a key that never sent. */
  nextAtMs: number | null;
  /** The key's last seq in the log (0 when it has none). */
  lastSeq: number;
  /** How many of the key's sends may still reach Meta within a second of now (their free_at_ms ≥ now − 1000). */
  holding: number;
  /** Of those, the one whose leaving would bring them under R (the (holding − R + 1)-th earliest to leave). */
  leaving: { freeAtMs: number; answered: boolean } | undefined;
}

/**
 * The milliseconds until a send may start for all these keys, 0 when it may start now. Both rules must hold:
 * - the grid is due (next slot ≤ now): the spacing that keeps sends smooth;
 * - fewer than R of the key's sends may still reach Meta within a second of now. A request reaches Meta after its
 *   slot is taken and before its answer comes back, so a send counts until a second after its answer (free_at_ms is
 *   the answer's time) and then never again: any R + 1 sends of a key then arrive more than a second apart, whatever
 *   the network's jitter and however many processes send. One never answered (its process died mid-send) counts
 *   until a second after `longestSendMs` past its slot (free_at_ms starts there): no live send takes longer.
 * While the one that must leave is still in flight its answer is yet to come, so it leaves a second after now at
 * the earliest. "Within a second" is strict (times on SQLite are whole milliseconds, an answer's floored time may be
 * up to 1 ms early): a send leaves when now > free_at + 1000.
 */
export function sendSlotWaitMs(states: SendKeyState[], nowMs: number): number {
  let wait = 0;
  for (const { nextAtMs, leaving } of states) {
    if (nextAtMs !== null && nextAtMs > nowMs) wait = Math.max(wait, Math.ceil(nextAtMs - nowMs));
    if (leaving === undefined) continue;
    const leavesAt = (leaving.answered ? leaving.freeAtMs : Math.min(leaving.freeAtMs, nowMs)) + 1000;
    if (leavesAt >= nowMs) wait = Math.max(wait, Math.floor(leavesAt - nowMs) + 1);
  }
  return wait;
}

/**
 * How far behind now the grid may fall and still catch up: the sends a hiccup delayed (a collection pause, a slow
 * round trip to the database) or the log's rule held back are made up for by the next ones, up to this much.
 * Restarting the grid from now instead, whenever a send came later than this, cost two senders on one PostgreSQL
 * 3–4 % of the rate. The price: after a pause (and for a key that never sent: no row here, 0 on PostgreSQL) the
 * first GRID_CATCH_UP_MS / interval + 1 sends may go at once (9 at 80/s), which the log's rule still counts.
 */
export const GRID_CATCH_UP_MS = 100;

/** The grid's next slot after a send at `nowMs`: one interval on from its slot, or from GRID_CATCH_UP_MS ago at the earliest. */
export function nextGridSlot(nextAtMs: number | null, intervalMs: number, nowMs: number): number {
  return Math.max(nextAtMs ?? 0, nowMs - GRID_CATCH_UP_MS) + intervalMs;
}

/** Each key's R as a whole number of sends, at least one (a rate of 0.5/s still lets one send through a second). */
export function sendsPerSecond(key: SendSlotKey): number {
  return Math.max(1, Math.floor(key.perSecond));
}

/**
 * Send-rate slots shared by every process on the database, each taken in ONE IMMEDIATE transaction (so no other
 * process reads or moves them in between): the keys' grids and logs are read, and when every key is free the grids
 * move, the send is logged as the next seq of each key, and the key's rows that stopped counting are deleted (so a
 * key keeps at most R rows). Slots follow a fixed grid so the time between a sender's wake-up and its take (a timer
 * firing late, a few round trips to a busy PostgreSQL, a collection pause) does not slow the rate down: the sends
 * after a late one follow sooner until the grid is caught up (GRID_CATCH_UP_MS of lateness at most). What a second
 * at Meta's end may hold is the log's rule, not the grid's.
 */
export function createSendSlotRepo(db: Database): SendSlotRepo {
  const slot = db.prepare<[string], number>('SELECT next_at_ms FROM send_slots WHERE key = ?').pluck();
  const lastSeq = db.prepare<[string], number>('SELECT COALESCE(MAX(seq), 0) FROM send_log WHERE key = ?').pluck();
  const holding = db.prepare<[string, number], number>('SELECT COUNT(*) FROM send_log WHERE key = ? AND free_at_ms >= ?').pluck();
  const leaving = db.prepare<[string, number, number], { free_at_ms: number; answered_at_ms: number | null }>(
    'SELECT free_at_ms, answered_at_ms FROM send_log WHERE key = ? AND free_at_ms >= ? ORDER BY free_at_ms LIMIT 1 OFFSET ?',
  );
  const moveSlot = db.prepare(
    'INSERT INTO send_slots (key, next_at_ms) VALUES (@key, @next) ON CONFLICT (key) DO UPDATE SET next_at_ms = excluded.next_at_ms',
  );
  const log = db.prepare('INSERT INTO send_log (key, seq, taken_at_ms, free_at_ms) VALUES (?, ?, ?, ?)');
  const prune = db.prepare('DELETE FROM send_log WHERE key = ? AND free_at_ms < ?');
  const answer = db.prepare(
    'UPDATE send_log SET answered_at_ms = @now, free_at_ms = MIN(free_at_ms, @now) WHERE key = @key AND seq = @seq AND answered_at_ms IS NULL',
  );

  const take = db.transaction((keys: SendSlotKey[], nowMs: number, longestSendMs: number): SendSlotTake => {
    const states = keys.map((key): SendKeyState => {
      const count = holding.get(key.key, nowMs - 1000)!;
      const perSecond = sendsPerSecond(key);
      const row = count >= perSecond ? leaving.get(key.key, nowMs - 1000, count - perSecond) : undefined;
      return {
        nextAtMs: slot.get(key.key) ?? null,
        lastSeq: lastSeq.get(key.key)!,
        holding: count,
        leaving: row && { freeAtMs: row.free_at_ms, answered: row.answered_at_ms !== null },
      };
    });
    const waitMs = sendSlotWaitMs(states, nowMs);
    if (waitMs > 0) return { taken: false, waitMs };
    const sends = keys.map((key, i) => {
      const { nextAtMs, lastSeq: last } = states[i]!;
      moveSlot.run({ key: key.key, next: nextGridSlot(nextAtMs, key.intervalMs, nowMs) });
      prune.run(key.key, nowMs - 1000);
      log.run(key.key, last + 1, nowMs, nowMs + longestSendMs);
      return { key: key.key, seq: last + 1 };
    });
    return { taken: true, token: { sends } };
  });
  const answerAll = db.transaction((sends: ReadonlyArray<{ key: string; seq: number }>, nowMs: number) => {
    for (const { key, seq } of sends) answer.run({ now: nowMs, key, seq });
  });

  return {
    async take(keys, { nowMs, longestSendMs }) {
      if (keys.length === 0) return { taken: true, token: { sends: [] } };
      return take.immediate(keys, nowMs, longestSendMs);
    },
    async answered(token, nowMs) {
      if (token.sends.length > 0) answerAll(token.sends, nowMs);
    },
  };
}
