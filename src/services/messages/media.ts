import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { UsageError } from '../../errors.js';
import { uploadMedia } from '../../graph/media.js';
import type { Integration } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';
import { checkMediaFile, type MediaSource, type MediaType } from './message-types.js';

/** A media value as given: an http(s) URL, a local file to upload, or a media id Meta already has. */
export type MediaArgument = { source: MediaSource } | { file: { path: string; mimeType: string; size: number } };

/**
 * Reads `--image PATH|URL` (and the other media flags): a URL is sent as a link, an existing file is checked
 * against Meta's limits for that type (uploaded later, only when the message is really sent), digits are a media id.
 */
export async function mediaArgument(type: MediaType, value: string): Promise<MediaArgument> {
  if (/^https?:\/\//i.test(value)) return { source: { link: value } };
  const info = await stat(value).catch(() => undefined);
  if (info?.isFile()) return { file: { path: value, mimeType: checkMediaFile(type, value, info.size), size: info.size } };
  if (/^\d{5,}$/.test(value)) return { source: { id: value } };
  throw new UsageError(`--${type} ${value}: no such file, and not an http(s) URL or a media id.`);
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
  const { createHash } = await import('node:crypto');
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
