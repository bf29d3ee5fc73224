import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { UserError } from '../errors.js';
import type { RelayLeaseRepo } from '../store/types.js';
import { processAlive } from './state-file.js';

/** How long a relay's lease lasts without renewal; it is renewed every third of it. */
export const RELAY_LEASE_MS = 30_000;

export interface HeldRelayLease {
  /** Settles if another relay took the lease over (this one stalled past its lease): this relay must stop. */
  lost: Promise<void>;
  release(): Promise<void>;
}

/**
 * Takes the database's relay lease or refuses with `relay_running`. A holder whose process is gone (killed, on this
 * host) or whose lease ran out does not stand in the way, so a relay restarted after `kill -9` starts at once.
 */
export async function holdRelayLease(
  repo: RelayLeaseRepo,
  now: () => Date,
  leaseMs = RELAY_LEASE_MS,
): Promise<HeldRelayLease> {
  const holder = { holder: randomUUID(), pid: process.pid, host: hostname() };
  const until = () => new Date(now().getTime() + leaseMs).toISOString();
  const outcome = await repo.take(holder, now().toISOString(), until(), processAlive);
  if (!outcome.taken) {
    const where = outcome.current.host === holder.host ? '' : ` on ${outcome.current.host}`;
    throw new UserError(`A relay is already running for this LUMEN_HOME (pid ${outcome.current.pid}${where}).`, {
      code: 'relay_running',
      hint: 'Stop it first with `lumen relay stop` (or Ctrl-C in its terminal), or use another LUMEN_HOME.',
    });
  }
  let onLost = () => {};
  const lost = new Promise<void>((resolve) => (onLost = resolve));
  let renewing: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = repo.renew(holder.holder, until()).then(
      (held) => {
        if (held) return;
        clearInterval(timer);
        onLost();
      },
      () => {}, // a database that cannot be written now: the next renewal tries again (readiness reports it)
    );
  }, leaseMs / 3);
  timer.unref();
  return {
    lost,
    async release() {
      clearInterval(timer);
      await renewing;
      await repo.release(holder.holder);
    },
  };
}
