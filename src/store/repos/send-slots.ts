import type { Database } from '../db.js';
import type { SendSlotRepo } from '../types.js';

export function createSendSlotRepo(db: Database): SendSlotRepo {
  const read = db.prepare<[string], { next_at_ms: number }>('SELECT next_at_ms FROM send_slots WHERE key = ?');
  const write = db.prepare(
    'INSERT INTO send_slots (key, next_at_ms) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET next_at_ms = excluded.next_at_ms',
  );
  // IMMEDIATE takes the write lock up front: two processes cannot take the same slot.
  const take = db.transaction((keys: Array<{ key: string; intervalMs: number }>, nowMs: number) => {
    let due = nowMs;
    for (const { key } of keys) due = Math.max(due, read.get(key)?.next_at_ms ?? 0);
    if (due > nowMs) return due - nowMs;
    // Slots follow a fixed grid so timer lateness does not slow the rate down; but a send later than half an
    // interval restarts the grid from now, so a late send is never followed by one that crowds it.
    for (const { key, intervalMs } of keys) {
      const scheduled = read.get(key)?.next_at_ms ?? 0;
      const base = nowMs - scheduled <= intervalMs / 2 ? scheduled : nowMs;
      write.run(key, base + intervalMs);
    }
    return 0;
  });
  return {
    async take(keys, nowMs) {
      return take.immediate(keys, nowMs);
    },
  };
}
