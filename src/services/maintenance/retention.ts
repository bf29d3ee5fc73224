import { randomBytes } from 'node:crypto';
import { link, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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
  let failure: unknown;
  if (!request.dryRun) {
    await recoverAside(deps.store, request.mediaDir).catch((error: unknown) => (failure ??= error));
    await removeLeftDownloads(request.mediaDir).catch((error: unknown) => (failure ??= error));
  }
  for (const path of new Set(counts.files.map((stored) => localMediaPath(request.mediaDir, stored)))) {
    try {
      if (!(await stat(path).then((info) => info.isFile(), () => false))) continue;
      if (request.dryRun || (await removeUnusedFile(deps.store, path))) files += 1;
    } catch (error) {
      // The records are gone already: the other files are still removed, and the first error is reported after.
      failure ??= error;
    }
  }
  // Files older than the cutoff that no record points at, whoever deleted their records: a purge on another host of a
  // shared database (it removes only its own files), `whatsapp disconnect --purge`. (Not newer ones: after an older
  // backup is restored, the files received since have no record, and are still the only copies.)
  try {
    files += await removeOrphans(deps.store, request.mediaDir, request.dryRun, Date.parse(cutoff));
  } catch (error) {
    failure ??= error;
  }
  if (failure !== undefined) throw failure;
  const { files: _, ...rest } = counts;
  return { cutoff, dryRun: request.dryRun, ...rest, files };
}

/** A file a purge has moved aside: `.purge-<its name>.<random>`. */
const ASIDE = /^\.purge-(.+)\.[0-9a-f]{16}$/;

function inUse(store: ServiceDeps['store'], path: string): Promise<boolean> {
  return store.media.fileInUse(path, /^[0-9a-f]{64}/.exec(basename(path))?.[0] ?? null);
}

/**
 * Deletes a media file no record points at any more, unless one started to since the purge committed: the relay
 * stores the same bytes (same hash, same name) for a new message. A file still in use is left alone; another is moved
 * aside, and the records are checked again after: a record committed before that check keeps the file (it is moved
 * back), and the relay checks for the file after its commit (MediaFetcher), so one committed later finds it gone and
 * puts its own copy in place.
 */
async function removeUnusedFile(store: ServiceDeps['store'], path: string): Promise<boolean> {
  if (await inUse(store, path)) return false;
  const aside = join(dirname(path), `.purge-${basename(path)}.${randomBytes(8).toString('hex')}`);
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  return settleAside(store, aside, path);
}

/** Deletes a file moved aside when no record points at it, else puts it back: true when it was deleted. */
async function settleAside(store: ServiceDeps['store'], aside: string, path: string): Promise<boolean> {
  let used: boolean;
  try {
    used = await inUse(store, path);
  } catch (error) {
    await putBack(aside, path).catch(() => undefined);
    throw error;
  }
  if (used) {
    await putBack(aside, path);
    return false;
  }
  await rm(aside, { force: true });
  return true;
}

/** A media file as the relay names it: its SHA-256, then its extension. */
const MEDIA_FILE = /^[0-9a-f]{64}(\.[A-Za-z0-9]{1,10})?$/;
/** An orphan younger than this may be a file the relay has put in place and is about to record: left for later. */
const ORPHAN_MS = 60 * 60_000;

/** Deletes (with `dryRun`, counts) media files no record points at, written before `cutoffMs` and over an hour ago. */
async function removeOrphans(store: ServiceDeps['store'], mediaDir: string, dryRun: boolean, cutoffMs: number): Promise<number> {
  let removed = 0;
  for (const name of await readdir(mediaDir).catch(() => [] as string[])) {
    if (!MEDIA_FILE.test(name)) continue;
    const path = join(mediaDir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile() || info.mtimeMs >= cutoffMs || Date.now() - info.mtimeMs < ORPHAN_MS) continue;
    if (dryRun ? !(await inUse(store, path)) : await removeUnusedFile(store, path)) removed += 1;
  }
  return removed;
}

/** A relay's download in progress (its file, or the copy it renames into place where there are no hard links). */
const DOWNLOAD = /^\.download-[0-9a-f]{16}(\.copy)?$/;
/** A download's file is written as the bytes come: one untouched this long was left by a relay that was killed. */
const DOWNLOAD_LEFT_MS = 60 * 60_000;

/** Removes what killed relays' downloads left in LUMEN_HOME/media. */
async function removeLeftDownloads(mediaDir: string): Promise<void> {
  const names = await readdir(mediaDir).catch(() => [] as string[]);
  for (const name of names) {
    if (!DOWNLOAD.test(name)) continue;
    const path = join(mediaDir, name);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() && Date.now() - info.mtimeMs > DOWNLOAD_LEFT_MS) await rm(path, { force: true });
  }
}

/**
 * Files a stopped purge (Ctrl-C, a killed relay) left aside: put back when in use, else deleted. One another purge
 * holds aside right now is settled the same way by both: each checks the records after the file was moved.
 */
async function recoverAside(store: ServiceDeps['store'], mediaDir: string): Promise<void> {
  const names = await readdir(mediaDir).catch(() => [] as string[]);
  for (const name of names) {
    const original = ASIDE.exec(name)?.[1];
    if (original) await settleAside(store, join(mediaDir, name), join(mediaDir, original));
  }
}

async function putBack(aside: string, path: string): Promise<void> {
  try {
    await link(aside, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOENT: another purge has settled it. EEXIST: the relay has put the same bytes there already.
    if (code === 'ENOENT') return;
    if (code !== 'EEXIST') {
      // A file system without hard links gets the rename.
      await rename(aside, path).catch((failure: NodeJS.ErrnoException) => {
        if (failure.code !== 'ENOENT') throw failure;
      });
      return;
    }
  }
  await rm(aside, { force: true });
}

