import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, readFile, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UsageError, UserError } from '../../errors.js';
import { getMediaInfo, uploadMedia } from '../../graph/media.js';
import type { Integration, MediaRecord, Store, Workspace } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';
import { localMediaPath } from './media-path.js';
import { checkMediaFile, MEDIA_LIMITS, type MediaSource, type MediaType } from './message-types.js';

/** A media value as given: an http(s) URL, a local file to upload, or a media id Meta already has. */
export type MediaArgument = { source: MediaSource } | { file: { path: string; mimeType: string; size: number } };

/**
 * Reads `--image PATH|URL` (and the other media flags): a URL is sent as a link, an existing file is checked
 * against Meta's limits for that type (uploaded later, only when the message is really sent), digits are a media id.
 */
export async function mediaArgument(type: MediaType, value: string): Promise<MediaArgument> {
  if (/^https?:\/\//i.test(value)) return { source: { link: value } };
  const info = await stat(value).catch(() => undefined);
  if (info?.isFile()) {
    const mimeType = checkMediaFile(type, value, info.size);
    await access(value, constants.R_OK).catch(() => {
      throw new UsageError(`--${type} ${value}: the file cannot be read (permission denied).`);
    });
    await checkImageContent(value, mimeType);
    return { file: { path: value, mimeType, size: info.size } };
  }
  if (info?.isDirectory()) throw new UsageError(`--${type} ${value}: is a directory; name a file in it.`);
  if (info) throw new UsageError(`--${type} ${value}: not a regular file (a device, a pipe or a socket); name a file.`);
  if (/^\d{5,}$/.test(value)) return { source: { id: value } };
  throw new UsageError(`--${type} ${value}: no such file, and not an http(s) URL or a media id.`);
}

/** How an image's first bytes say what it is (its name may say otherwise). */
const IMAGE_SIGNATURES: Record<string, (head: Buffer) => boolean> = {
  'image/jpeg': (head) => head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff,
  'image/png': (head) => head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/webp': (head) => head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP',
};

/** Whether bytes said to be a JPEG, PNG or WebP start as one (other types are not told by their bytes here). */
export function contentMatches(mimeType: string, head: Buffer): boolean {
  const matches = IMAGE_SIGNATURES[mimeType];
  return !matches || matches(head);
}

/** A JPEG, PNG or WebP named so must be one: WhatsApp would show the customer a broken image. */
async function checkImageContent(path: string, mimeType: string): Promise<void> {
  if (!IMAGE_SIGNATURES[mimeType]) return;
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(12);
    await file.read(head, 0, 12, 0);
    if (!contentMatches(mimeType, head)) throw new UsageError(`${path} is named as ${mimeType} but its content is not ${mimeType.slice(6).toUpperCase()}.`);
  } finally {
    await file.close();
  }
}

/** What a message shows in place of a media id until its file is uploaded (in --dry-run output). */
export const pendingUploadId = (path: string) => `<media id of ${basename(path)} once uploaded>`;

/** Uploads a local file to Meta (POST /{phone-number-id}/media) and records it; returns the media id. */
export async function uploadFile(
  deps: Pick<ServiceDeps, 'graphFor' | 'now' | 'store'>,
  integration: Integration,
  file: { path: string; mimeType: string; filename?: string | undefined; caption?: string | undefined },
): Promise<string> {
  const bytes = await readFile(file.path);
  const graph = await deps.graphFor(integration);
  const id = await uploadMedia(graph, integration.phoneNumberId, { bytes, mimeType: file.mimeType, filename: file.filename ?? basename(file.path) });
  await deps.store.media.recordUpload(
    {
      integrationId: integration.id,
      mediaId: id,
      workspaceId: integration.workspaceId,
      mimeType: file.mimeType,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      filename: file.filename ?? basename(file.path),
      caption: file.caption ?? null,
      path: null,
    },
    deps.now().toISOString(),
  );
  return id;
}

/** `in_…` (the inbound message it came with) or a media id: the workspace's media record. */
export async function findMedia(store: Store, workspace: Workspace, ref: string): Promise<MediaRecord> {
  const record = ref.startsWith('in_') ? await store.media.forInteraction(ref) : await store.media.findInWorkspace(workspace.id, ref);
  if (record && record.workspaceId === workspace.id) return record;
  throw new UserError(
    ref.startsWith('in_') ? `Message ${ref} carries no media in workspace ${workspace.name}.` : `No media ${ref} in workspace ${workspace.name}.`,
    { code: 'media_not_found', kind: 'not_found', hint: '`lumen media list` shows the media lumen received or uploaded.' },
  );
}

/** A media file on this machine: the stored one, or a temporary copy fetched now (`remove` it when done). */
export interface MediaFile {
  path: string;
  size: number;
  sha256: string;
  mimeType: string | null;
  /** Fetched through the Graph API now (the record has no stored file yet). */
  fetched: boolean;
  remove(): Promise<void>;
}

/**
 * The record's file: the stored copy, or (pending, failed, or uploaded by lumen) fetched now with the number's
 * token — `GET /{media-id}` for a fresh URL, then the file, checked against Meta's SHA-256 — into `tmpDir`.
 */
export async function mediaFile(
  deps: Pick<ServiceDeps, 'graphFor' | 'store'>,
  record: MediaRecord,
  tmpDir: string,
  mediaDir: string,
): Promise<MediaFile> {
  if (record.state === 'stored' && record.path) {
    const stored = localMediaPath(mediaDir, record.path);
    const info = await stat(stored).catch(() => undefined);
    if (info?.isFile()) {
      const sha256 = record.sha256 ?? (await sha256Of(stored));
      return { path: stored, size: info.size, sha256, mimeType: record.mimeType, fetched: false, remove: async () => {} };
    }
  }
  const integration = await deps.store.integrations.findById(record.integrationId);
  if (!integration) {
    throw new UserError(`Media ${record.mediaId} belongs to a number that is no longer connected; lumen has no token to fetch it.`, {
      code: 'media_unavailable',
      kind: 'not_found',
    });
  }
  const graph = await deps.graphFor(integration);
  const info = await getMediaInfo(graph, record.mediaId);
  const path = join(tmpDir, `.lumen-media-${randomBytes(8).toString('hex')}`);
  const remove = () => rm(path, { force: true });
  try {
    const file = await graph.download(info.url, path, MEDIA_LIMITS.document.maxBytes);
    const expected = info.sha256 ?? record.sha256;
    if (expected && !sameSha256(expected, file.sha256)) {
      throw new UserError(`The file Meta served for media ${record.mediaId} does not match its SHA-256.`, { code: 'media_sha256_mismatch', kind: 'unavailable' });
    }
    return { path, size: file.size, sha256: file.sha256, mimeType: info.mime_type ?? record.mimeType ?? file.contentType, fetched: true, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

async function sha256Of(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Meta gives the SHA-256 as hex in media info and as base64 in webhooks: either spelling. */
function sameSha256(given: string, hex: string): boolean {
  const trimmed = given.trim();
  if (/^[0-9a-f]{64}$/i.test(trimmed)) return trimmed.toLowerCase() === hex;
  return Buffer.from(hex, 'hex').toString('base64') === trimmed;
}
