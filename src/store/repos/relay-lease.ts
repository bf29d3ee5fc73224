import type { Database } from '../db.js';
import type { RelayLeaseHolder, RelayLeaseRepo } from '../types.js';

/** The relay lease (migration 011): one row, taken in one IMMEDIATE transaction (two relays starting at once: one wins). */
export function createRelayLeaseRepo(db: Database): RelayLeaseRepo {
  const current = db.prepare<[], RelayLeaseHolder & { claimed_until: string }>(
    'SELECT holder, pid, host, claimed_until FROM relay_lease WHERE id = 1',
  );
  const put = db.prepare(
    `INSERT INTO relay_lease (id, holder, pid, host, taken_at, claimed_until) VALUES (1, @holder, @pid, @host, @now, @until)
     ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host,
       taken_at = excluded.taken_at, claimed_until = excluded.claimed_until`,
  );
  const renew = db.prepare('UPDATE relay_lease SET claimed_until = ? WHERE id = 1 AND holder = ?');
  const release = db.prepare('DELETE FROM relay_lease WHERE id = 1 AND holder = ?');

  const take = db.transaction((holder: RelayLeaseHolder, now: string, until: string, alive: (pid: number) => boolean) => {
    const row = current.get();
    const held =
      row !== undefined && row.holder !== holder.holder && row.claimed_until >= now && (row.host !== holder.host || alive(row.pid));
    if (held) return { taken: false as const, current: { holder: row.holder, pid: row.pid, host: row.host } };
    put.run({ ...holder, now, until });
    return { taken: true as const };
  });

  return {
    async take(holder, now, until, alive) {
      return take.immediate(holder, now, until, alive);
    },
    async renew(holder, until) {
      return renew.run(until, holder).changes === 1;
    },
    async release(holder) {
      release.run(holder);
    },
  };
}
