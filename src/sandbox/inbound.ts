/**
 * Inbound messages the sandbox posts as Meta would: media messages get real media (a small file of the right
 * type, or the bytes given) that `GET /{media-id}` and its URL serve, and every wamid is remembered so read
 * receipts for it are accepted.
 */
import { createHash } from 'node:crypto';
import { defaultFilename, sampleMedia } from './media.js';
import {
  MEDIA_MESSAGE_TYPES,
  inboundPayload,
  newWamid,
  type InboundSpec,
  type MediaMessageType,
  type NumberInfo,
} from './payloads.js';
import type { SandboxState } from './state.js';
import type { SandboxMediaInfo } from './types.js';
import type { WebhookDelivery, WebhookSender } from './webhooks.js';

/** An inbound message, with the media's bytes when they should not be the sandbox's default file. */
export interface SandboxInboundSpec extends InboundSpec {
  /** The media's bytes (a Buffer, or base64); default a small file of the type (PNG, MP4, Ogg, PDF, WebP). */
  data?: Buffer | string;
  /** The media's MIME type; default that of the default file. */
  mimeType?: string;
  /** A document's filename; default `sandbox.<ext>`. */
  filename?: string;
}

export interface PostedInbound {
  delivery: WebhookDelivery | undefined;
  messages: { wamid: string; media: SandboxMediaInfo | null }[];
}

const isMediaType = (type: string | undefined): type is MediaMessageType =>
  (MEDIA_MESSAGE_TYPES as readonly string[]).includes(type ?? '');

/** Posts the messages as one signed delivery; undefined (and nothing created) when no webhook URL is set. */
export function postInbound(
  state: SandboxState,
  webhooks: WebhookSender,
  number: NumberInfo,
  specs: readonly SandboxInboundSpec[],
): PostedInbound | undefined {
  if (!webhooks.url) return undefined;
  const prepared = specs.map((spec) => prepare(state, spec));
  for (const { spec } of prepared) state.registerInbound(spec.wamid!);
  const delivery = webhooks.send('inbound', inboundPayload(number, prepared.map((p) => p.spec)));
  return { delivery, messages: prepared.map((p) => ({ wamid: p.spec.wamid!, media: p.media })) };
}

function prepare(state: SandboxState, input: SandboxInboundSpec): { spec: InboundSpec; media: SandboxMediaInfo | null } {
  const { data, mimeType, filename, ...spec } = input;
  spec.wamid ??= newWamid(spec.from ?? spec.userId);
  if (!isMediaType(spec.type) || spec.media !== undefined) return { spec, media: null };
  const sample = sampleMedia(spec.type);
  const bytes = data === undefined ? sample.bytes : typeof data === 'string' ? Buffer.from(data, 'base64') : data;
  const type = mimeType ?? sample.mimeType;
  const name = spec.type === 'document' ? (filename ?? (mimeType === undefined ? sample.filename : defaultFilename(type))) : undefined;
  const media = state.media.add(bytes, type, 'inbound', name);
  // The webhook carries the SHA-256 in base64 (GET /{media-id} gives it in hex).
  const sha256 = createHash('sha256').update(bytes).digest('base64');
  spec.media = { id: media.id, mimeType: type, sha256, ...(name !== undefined ? { filename: name } : {}) };
  return { spec, media };
}
