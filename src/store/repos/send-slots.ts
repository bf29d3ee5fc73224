import type { Database } from '../db.js';
import type { SendSlotRepo } from '../types.js';

/**
 * Send-rate slots shared by every process on the database, each taken in ONE statement: the check that every key is
 * due and the move of each key's next slot happen together, so no lock is held across statements.
 * Slots follow a fixed grid so timer lateness does not slow the rate down; but a send later than half an interval
 * restarts the grid from now, so a late send is never followed by one that crowds it.
 */
export function createSendSlotRepo(db: Database): SendSlotRepo {
  const statements = new Map<number, { take: ReturnType<Database['prepare']>; next: ReturnType<Database['prepare']> }>();
  const forKeys = (count: number) => {
    let prepared = statements.get(count);
    if (!prepared) {
      const values = Array.from({ length: count }, (_, i) => `(@k${i}, @i${i})`).join(', ');
      const keys = Array.from({ length: count }, (_, i) => `@k${i}`).join(', ');
      prepared = {
        take: db.prepare(
          `INSERT INTO send_slots (key, next_at_ms)
           SELECT column1, @now + column2 FROM (VALUES ${values})
            WHERE (SELECT COALESCE(MAX(next_at_ms), 0) FROM send_slots WHERE key IN (${keys})) <= @now
           ON CONFLICT (key) DO UPDATE SET next_at_ms =
             CASE WHEN @now - send_slots.next_at_ms <= (excluded.next_at_ms - @now) / 2.0
                  THEN send_slots.next_at_ms + (excluded.next_at_ms - @now)
                  ELSE excluded.next_at_ms END`,
        ),
        next: db.prepare(`SELECT COALESCE(MAX(next_at_ms), 0) FROM send_slots WHERE key IN (${keys})`).pluck(),
      };
      statements.set(count, prepared);
    }
    return prepared;
  };
  return {
    async take(keys, nowMs) {
      if (keys.length === 0) return 0;
      const keyParams: Record<string, string> = {};
      const params: Record<string, string | number> = { now: nowMs };
      keys.forEach(({ key, intervalMs }, i) => {
        keyParams[`k${i}`] = params[`k${i}`] = key;
        params[`i${i}`] = intervalMs;
      });
      const { take, next } = forKeys(keys.length);
      if (take.run(params).changes > 0) return 0;
      return Math.max(1, Math.ceil((next.get(keyParams) as number) - nowMs));
    },
  };
}
