import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Integration, OutboundMessage, Workspace } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';
import { composeMessage, type ComposedMessage, type MessageInput } from './compose.js';
import { pendingUploadId, uploadFile, type MediaArgument } from './media.js';
import type { MediaType } from './message-types.js';
import { deliverOutbound, stoppedBeforeSending, submitOutbound, type SendRates, type SendStop } from './outbox.js';

export interface SendOneInput {
  workspace: Workspace;
  integration: Integration;
  to: string;
  message: MessageInput;
  /** A local file the message carries: uploaded once the message has passed every check. */
  upload?: { type: MediaType; file: Extract<MediaArgument, { file: unknown }>['file'] } | undefined;
  force?: boolean;
  idempotencyKey?: string | undefined;
  rates: SendRates;
  source?: OutboundMessage['source'];
  inReplyTo?: string | null;
  /** Ctrl-C: obeyed until the message is claimed for sending (nothing sent), not after (Meta's answer is recorded). */
  stop?: SendStop | undefined;
}

export type SendOneResult =
  | { outcome: 'sent'; message: OutboundMessage }
  | { outcome: 'already_sent'; message: OutboundMessage }
  | { outcome: 'pending_approval'; message: OutboundMessage };

/** Checks, records, and (unless it awaits approval) sends one message. */
export async function sendOne(deps: ServiceDeps, input: SendOneInput): Promise<SendOneResult> {
  const composed = await composeMessage(deps.store, input.integration, {
    to: input.to,
    message: input.message,
    force: input.force ?? false,
    now: deps.now(),
  });
  if (input.upload) {
    // Checked first (window, limits), uploaded only now: a refused message uploads nothing.
    const media = composed.body[input.upload.type] as Record<string, unknown>;
    const caption = typeof media.caption === 'string' ? media.caption : undefined;
    const filename = typeof media.filename === 'string' ? media.filename : undefined;
    media.id =
      (await earlierUpload(deps, input)) ?? (await uploadFile(deps, input.integration, { ...input.upload.file, filename, caption }));
  }
  return sendComposed(deps, input, composed);
}

/**
 * A re-run with the same idempotency key sends the same body: the media id the first run uploaded this file as
 * (the same bytes), not a new upload (which would make the body differ, and the key look reused).
 */
async function earlierUpload(deps: ServiceDeps, input: SendOneInput): Promise<string | undefined> {
  if (!input.upload || !input.idempotencyKey) return undefined;
  const earlier = await deps.store.outbound.findByIdempotencyKey(input.integration.id, input.idempotencyKey);
  const media = earlier?.body[input.upload.type];
  const id = typeof media === 'object' && media !== null ? (media as Record<string, unknown>).id : undefined;
  if (typeof id !== 'string') return undefined;
  const record = await deps.store.media.find(input.integration.id, id);
  if (record?.direction !== 'out' || !record.sha256) return undefined;
  const bytes = await readFile(input.upload.file.path);
  return createHash('sha256').update(bytes).digest('hex') === record.sha256 ? id : undefined;
}

/** The body --dry-run shows for a message that carries a local file. */
export function withPendingUpload(composed: ComposedMessage, upload: SendOneInput['upload']): ComposedMessage {
  if (!upload) return composed;
  const media = composed.body[upload.type] as Record<string, unknown>;
  media.id = pendingUploadId(upload.file.path);
  return composed;
}

export async function sendComposed(
  deps: ServiceDeps,
  input: Omit<SendOneInput, 'to' | 'message'>,
  composed: ComposedMessage,
): Promise<SendOneResult> {
  // The token first: a secret store that cannot be read fails the send before anything is queued (a queued row
  // nobody sends would stay in `messages list` for good).
  await deps.graphFor(input.integration);
  if (input.stop?.signal.aborted) throw stoppedBeforeSending();
  const submitted = await submitOutbound(deps, {
    workspace: input.workspace,
    integration: input.integration,
    to: composed.to,
    recipientKind: composed.recipientKind,
    kind: composed.kind,
    body: composed.body,
    templateName: composed.templateName,
    templateLanguage: composed.templateLanguage,
    idempotencyKey: input.idempotencyKey ?? null,
    source: input.source ?? 'cli',
    inReplyTo: input.inReplyTo ?? null,
    forceWindow: input.force ?? false,
  });
  if (submitted.kind === 'already_sent') return { outcome: 'already_sent', message: submitted.message };
  if (submitted.kind === 'pending_approval') return { outcome: 'pending_approval', message: submitted.message };
  const sent = await deliverOutbound(deps, submitted.message, input.integration, input.rates, input.stop);
  return { outcome: sent.alreadySent ? 'already_sent' : 'sent', message: sent.message };
}

