import { FormData } from 'undici';
import { UserError } from '../errors.js';
import type { GraphClient } from './client.js';

/** GET /{media-id}: where to download a media file (the url expires after 5 minutes) and what it is. */
export interface GraphMediaInfo {
  id: string;
  url: string;
  mime_type?: string;
  sha256?: string;
  file_size?: number | string;
}

export function getMediaInfo(graph: GraphClient, mediaId: string): Promise<GraphMediaInfo> {
  return graph.get<GraphMediaInfo>(encodeURIComponent(mediaId));
}

/** POST /{phone-number-id}/media (multipart): uploads a file to send by id; Meta keeps it for 30 days. */
export async function uploadMedia(
  graph: GraphClient,
  phoneNumberId: string,
  file: { bytes: Uint8Array; mimeType: string; filename: string },
): Promise<string> {
  const form = new FormData();
  form.set('messaging_product', 'whatsapp');
  form.set('type', file.mimeType);
  form.set('file', new Blob([file.bytes], { type: file.mimeType }), file.filename);
  const answer = await graph.postForm<{ id?: string }>(`${encodeURIComponent(phoneNumberId)}/media`, form);
  if (typeof answer.id !== 'string' || answer.id === '') {
    throw new UserError('The Graph API accepted the upload but returned no media id.', { code: 'upload_no_media_id', kind: 'unavailable' });
  }
  return answer.id;
}

export function deleteMedia(graph: GraphClient, mediaId: string): Promise<{ success?: boolean }> {
  return graph.delete(encodeURIComponent(mediaId));
}

/** POST /{phone-number-id}/messages `status: read` (blue ticks), optionally with the typing indicator. */
export function markRead(graph: GraphClient, phoneNumberId: string, wamid: string, typing: boolean): Promise<{ success?: boolean }> {
  return graph.post(`${encodeURIComponent(phoneNumberId)}/messages`, {
    messaging_product: 'whatsapp',
    status: 'read',
    message_id: wamid,
    ...(typing ? { typing_indicator: { type: 'text' } } : {}),
  });
}
