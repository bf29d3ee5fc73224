import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { GraphClient } from '../graph/client.js';
import { GraphError, MediaTooLargeError } from '../graph/errors.js';
import { getMediaInfo } from '../graph/media.js';
import { extensionFor } from '../services/messages/message-types.js';
import { describeSystemFault } from '../store/faults.js';
import type { Integration, MediaRecord, MediaRepo } from '../store/types.js';
import type { RelayEventSink } from './events.js';
import { keepClaims } from './dispatch.js';
import { LoopedWorker } from './work-loop.js';

/** Meta's largest media (documents, 100 MB); `--media-max-bytes` lowers it. */
export const DEFAULT_MEDIA_MAX_BYTES = 100 * 1024 * 1024;
/** Attempts before a download is given up (the message itself is kept either way). */
export const MEDIA_MAX_ATTEMPTS = 8;
/** A download's claim, renewed every third of it while the file comes in (a dead relay's downloads wait this long). */
const MEDIA_LEASE_MS = 60_000;

/** Backoff between download attempts: 2 s, 4 s, 8 s … capped at 5 minutes. */
export function mediaRetryDelayMs(attempts: number): number {
  return Math.min(5 * 60_000, 1000 * 2 ** Math.max(1, attempts));
}

export interface MediaFetcherDeps {
  media: MediaRepo;
  /** The number a media row belongs to (undefined once disconnected: its downloads then fail). */
  integrationOf(id: string): Integration | undefined;
  graphFor(integration: Integration): Promise<GraphClient>;
  /** LUMEN_HOME/media */
  dir: string;
  maxBytes?: number;
  now(): Date;
  onEvent: RelayEventSink;
  /** A download settled (stored, or given up): its message may now be handed on. */
  onSettled(record: MediaRecord): void;
  concurrency?: number;
}

/**
 * Fetches inbound media after the 200: `GET /{media-id}` for a fresh url (it expires after 5 minutes, so every
 * attempt asks again), then the file with the token, checked against Meta's SHA-256 and size cap, into
 * `LUMEN_HOME/media/<sha256><ext>` (0600). Downloads are claimed in the database, retried with backoff and survive
 * restarts; a failed one never touches the stored message.
 */
export class MediaFetcher extends LoopedWorker {
  constructor(private readonly deps: MediaFetcherDeps) {
    super('Media downloads', deps.onEvent, deps.now);
  }

  protected async work(): Promise<void> {
    await mkdir(this.deps.dir, { recursive: true, mode: 0o700 });
    for (;;) {
      if (this.loop.isStopped) return;
      const now = this.deps.now();
      const claimed = await this.deps.media.claimDue(now.toISOString(), new Date(now.getTime() + MEDIA_LEASE_MS).toISOString(), this.deps.concurrency ?? 4);
      if (claimed.length === 0) return;
      const inFlight = new Set(claimed);
      const release = keepClaims(inFlight, (records, until) => this.deps.media.renewClaims(records, until), this.deps.now, MEDIA_LEASE_MS);
      try {
        await Promise.all(claimed.map((record) => this.fetchOne(record).finally(() => inFlight.delete(record))));
      } finally {
        release();
      }
    }
  }

  private async fetchOne(record: MediaRecord): Promise<void> {
    const started = this.deps.now().getTime();
    const maxBytes = this.deps.maxBytes ?? DEFAULT_MEDIA_MAX_BYTES;
    const tmp = join(this.deps.dir, `.download-${randomBytes(8).toString('hex')}`);
    const report = (ok: boolean, extra: { error?: string; path?: string; size?: number; retryAt?: string | null }) =>
      this.deps.onEvent({
        event: 'media',
        integrationId: record.integrationId,
        interactionId: record.interactionId,
        mediaId: record.mediaId,
        ok,
        attempt: record.attempts,
        durationMs: this.deps.now().getTime() - started,
        ...extra,
      });
    try {
      const integration = this.deps.integrationOf(record.integrationId);
      if (!integration) throw new PermanentFailure('the number is no longer connected');
      const graph = await this.deps.graphFor(integration);
      const info = await getMediaInfo(graph, record.mediaId).catch((error: unknown) => {
        // Meta knows no such media: asked again, it answers the same (a token error, or an expired file URL, does not).
        if (error instanceof GraphError && error.code === NO_SUCH_OBJECT) throw new PermanentFailure(error.message);
        throw error;
      });
      const declared = Number(info.file_size ?? NaN);
      if (Number.isFinite(declared) && declared > maxBytes) throw new PermanentFailure(`the file is ${declared} bytes, over the ${maxBytes}-byte cap`);
      const file = await graph.download(info.url, tmp, maxBytes);
      if (info.sha256 && !sameSha256(info.sha256, file.sha256)) throw new Error('the file does not match the SHA-256 Meta gave');
      const mimeType = info.mime_type ?? record.mimeType ?? file.contentType;
      const path = join(this.deps.dir, `${file.sha256}${extensionFor(mimeType ?? '')}`);
      // Named by its hash: the same file received twice is stored once. The download stays until the record is
      // committed and the file is checked again: a purge that removed the file before seeing this record (see
      // purgeMessages) finds it put back.
      await placeOnce(tmp, path);
      await this.deps.media.markStored(record.integrationId, record.mediaId, { path, size: file.size, sha256: file.sha256, mimeType }, this.deps.now().toISOString());
      try {
        await placeOnce(tmp, path);
      } catch (error) {
        // Stored: never a failed download now. Without its file here, `media get` (and the local API) fetch it again.
        const reason = describeSystemFault(error)?.message ?? (error as Error).message;
        this.deps.onEvent({ event: 'error', message: `Media ${record.mediaId} is stored, but its file could not be put back in ${this.deps.dir}: ${reason}` });
      }
      await rm(tmp, { force: true });
      report(true, { path, size: file.size });
      this.deps.onSettled({ ...record, state: 'stored', path, size: file.size, sha256: file.sha256, mimeType });
    } catch (error) {
      await rm(tmp, { force: true });
      const permanent = error instanceof PermanentFailure || error instanceof MediaTooLargeError;
      const message = describeSystemFault(error)?.message ?? (error as Error).message;
      const retryAt =
        permanent || record.attempts >= MEDIA_MAX_ATTEMPTS
          ? null
          : new Date(this.deps.now().getTime() + mediaRetryDelayMs(record.attempts)).toISOString();
      await this.deps.media.markAttemptFailed(record.integrationId, record.mediaId, message, retryAt, this.deps.now().toISOString());
      report(false, { error: message, retryAt });
      if (retryAt === null) this.deps.onSettled({ ...record, state: 'failed', lastError: message });
    }
  }
}

class PermanentFailure extends Error {}

/** Meta's error code for an id that names nothing (or nothing this token may see). */
const NO_SUCH_OBJECT = 100;

/** Puts `from` at `to` unless a file is there (the same bytes: named by their hash), whole or not at all; `from` stays. */
async function placeOnce(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
    // A file system without hard links: a copy, renamed into place whole (over the same bytes, if they came first).
    const copy = `${from}.copy`;
    try {
      await copyFile(from, copy);
      await rename(copy, to);
    } catch (failure) {
      await rm(copy, { force: true });
      throw failure;
    }
  }
}

/** Meta gives the SHA-256 as hex in media info (and base64 in webhooks): accept either spelling. */
function sameSha256(given: string, hex: string): boolean {
  const trimmed = given.trim();
  if (/^[0-9a-f]{64}$/i.test(trimmed)) return trimmed.toLowerCase() === hex;
  return Buffer.from(hex, 'hex').toString('base64') === trimmed;
}
