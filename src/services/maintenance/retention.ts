import { rm, stat } from 'node:fs/promises';
import { UsageError } from '../../errors.js';
import type { PurgeCounts } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';
import { localMediaPath } from '../messages/media-path.js';

const UNITS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** `90d`, `12w`, `36h`, `30m` → milliseconds; `what` names the flag or setting in the error. */
export function parseAge(value: string, what: string): number {
  const match = /^(\d+)\s*(m|h|d|w)$/.exec(value.trim());
  const ms = match ? Number(match[1]) * UNITS[match[2] as keyof typeof UNITS] : NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new UsageError(`${what} takes an age like 90d, 12w, 36h or 30m (more than zero); got "${value}".`);
  }
  return ms;
}

/** The `retention` setting of config.json: an age, or absent / "off" to keep everything. */
export function retentionSetting(value: unknown): number | undefined {
  if (value === undefined || value === null || value === 'off' || value === '') return undefined;
  if (typeof value !== 'string') throw new UsageError(`The "retention" setting in config.json must be an age like "90d" or "off"; got ${JSON.stringify(value)}.`);
  return parseAge(value, 'The "retention" setting in config.json');
}

export interface PurgeReport {
  cutoff: string;
  dryRun: boolean;
  /** What was (or, with dryRun, would be) removed. */
  inbound: number;
  outbound: number;
  statuses: number;
  webhookErrors: number;
  webhookEvents: number;
  media: number;
  contacts: number;
  /** Media files deleted from LUMEN_HOME/media (for a dry run: that would be). */
  files: number;
  /** Old inbound messages kept because their delivery to the user's code is not done (pending or retrying). */
  keptUndelivered: number;
}

/**
 * Removes everything older than `olderThanMs`: inbound messages (their raw payloads, finished deliveries and media
 * files), settled sent messages, statuses, Meta's webhook errors, uploads and senders with nothing left. A message
 * acknowledged to Meta but not yet handed to the user's code stays, whatever its age. `workspaceId` limits it to one
 * workspace (the CLI); without it every workspace (the relay's daily retention).
 */
export async function purgeMessages(
  deps: Pick<ServiceDeps, 'store' | 'now'>,
  request: { olderThanMs: number; workspaceId?: string | undefined; dryRun: boolean; mediaDir: string },
): Promise<PurgeReport> {
  const cutoff = new Date(deps.now().getTime() - request.olderThanMs).toISOString();
  const scope = { cutoff, workspaceId: request.workspaceId };
  const counts: PurgeCounts = request.dryRun ? await deps.store.maintenance.plan(scope) : await deps.store.maintenance.purge(scope);
  // Only files inside LUMEN_HOME/media are ever deleted, whatever a record says; a dry run counts those there.
  let files = 0;
  for (const path of new Set(counts.files.map((stored) => localMediaPath(request.mediaDir, stored)))) {
    if (!(await stat(path).then((info) => info.isFile(), () => false))) continue;
    if (!request.dryRun) await rm(path, { force: true });
    files += 1;
  }
  const { files: _, ...rest } = counts;
  return { cutoff, dryRun: request.dryRun, ...rest, files };
}
