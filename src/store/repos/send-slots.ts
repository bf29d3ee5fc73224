import type { Database } from '../db.js';
import type { SendSlotRepo } from '../types.js';

export function createSendSlotRepo(db: Database): SendSlotRepo {
  const read = db.prepare<[string], { next_at_ms: number }>('SELECT next_at_ms FROM send_slots WHERE key = ?');
  const write = db.prepare(
    'INSERT INTO send_slots (key, next_at_ms) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET next_at_ms = excluded.next_at_ms',
  );
  // IMMEDIATE takes the write lock up front: two processes cannot read the same slot.
  const reserve = db.transaction((keys: Array<{ key: string; intervalMs: number }>, nowMs: number) => {
    let slot = nowMs;
    for (const { key } of keys) slot = Math.max(slot, read.get(key)?.next_at_ms ?? 0);
    for (const { key, intervalMs } of keys) write.run(key, slot + intervalMs);
    return slot;
  });
  return {
    async reserve(keys, nowMs) {
      return reserve.immediate(keys, nowMs);
    },
  };
}
