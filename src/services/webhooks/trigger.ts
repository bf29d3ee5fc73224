/**
 * `lumen trigger`: a realistic delivery signed like Meta's (with the number's own app secret), posted to a relay,
 * and its answer. The payload builders are the sandbox's, so a triggered delivery looks exactly like one it sends.
 */
import { fileProblem, UsageError, UserError } from '../../errors.js';
import { createHash } from 'node:crypto';
import { uploadMedia } from '../../graph/media.js';
import { sampleMedia } from '../../sandbox/media.js';
import {
  MEDIA_MESSAGE_TYPES,
  SANDBOX_INBOUND_TYPES,
  batchPayload,
  inboundPayload,
  newWamid,
  serializeLikeMeta,
  statusPayload,
  type InboundSpec,
} from '../../sandbox/payloads.js';
import { metaSignatureHeaders } from '../../sandbox/webhooks.js';
import { fieldEventPayload, type FieldEventSpec } from '../../sandbox/field-events.js';
import { readIntegrationSecrets } from '../../secrets/integration.js';
import type { Integration } from '../../store/types.js';
import type { ServiceDeps } from '../deps.js';

export type TriggerSpec =
  | { what: 'message'; from: string; name: string; type: string; text?: string | undefined; replyTo?: string | undefined }
  | { what: 'status'; from: string; wamid: string; status: string; errorCode?: number | undefined }
  | { what: 'batch'; from: string; name: string; type: string; text?: string | undefined; messages: number; statuses: number }
  | { what: 'field'; from: string; event: FieldEventSpec };

export interface TriggerResult {
  url: string;
  status: number;
  response: unknown;
  /** The wamids of the messages and statuses it carried. */
  wamids: string[];
  ok: boolean;
  text: string;
}

/**
 * The Meta-shaped delivery for a spec (checked: type, status, counts). A media message carries a real media id: a
 * small sample file is uploaded first through the Graph API (the sandbox, or Meta), so the relay can fetch its bytes.
 */
export async function triggerPayload(deps: Pick<ServiceDeps, 'graphFor'>, integration: Integration, spec: TriggerSpec): Promise<unknown> {
  const number = {
    wabaId: integration.wabaId,
    phoneNumberId: integration.phoneNumberId,
    displayPhoneNumber: (integration.displayPhoneNumber ?? '').replace(/\D/g, ''),
  };
  if (!/^\d{8,15}$/.test(spec.from)) throw new UsageError(`--from must be a phone number; got "${spec.from}".`);
  if (spec.what === 'field') {
    try {
      return fieldEventPayload(number, { ...spec.event, user: spec.event.user ?? spec.from });
    } catch (error) {
      throw new UsageError(`trigger ${spec.event.what} ${(error as Error).message}.`);
    }
  }
  if (spec.what === 'status') {
    if (!['sent', 'delivered', 'read', 'failed'].includes(spec.status)) {
      throw new UsageError(`--status must be sent, delivered, read or failed; got "${spec.status}".`);
    }
    return statusPayload(number, [
      { wamid: spec.wamid, status: spec.status as 'sent', recipient: spec.from, ...(spec.errorCode !== undefined ? { errorCode: spec.errorCode } : {}) },
    ]);
  }
  const type = spec.type as (typeof SANDBOX_INBOUND_TYPES)[number];
  if (!SANDBOX_INBOUND_TYPES.includes(type)) throw new UsageError(`--type must be one of ${SANDBOX_INBOUND_TYPES.join(', ')}; got "${spec.type}".`);
  if (spec.what === 'message') {
    const message: InboundSpec = { from: spec.from, name: spec.name, type, text: spec.text ?? 'Hello from lumen trigger', ...(spec.replyTo ? { contextWamid: spec.replyTo } : {}) };
    if ((MEDIA_MESSAGE_TYPES as readonly string[]).includes(type)) {
      const sample = sampleMedia(type as (typeof MEDIA_MESSAGE_TYPES)[number]);
      const mimeType = sample.mimeType.split(';')[0]!;
      const filename = sample.filename ?? `sample${mimeType === 'image/png' ? '.png' : ''}`;
      const id = await uploadMedia(await deps.graphFor(integration), integration.phoneNumberId, { bytes: sample.bytes, mimeType, filename });
      message.media = { id, mimeType: sample.mimeType, sha256: createHash('sha256').update(sample.bytes).digest('base64'), ...(sample.filename ? { filename } : {}) };
      if (spec.text !== undefined) message.caption = spec.text;
    }
    return inboundPayload(number, [message]);
  }
  for (const [flag, n] of [['--messages', spec.messages], ['--statuses', spec.statuses]] as const) {
    if (!Number.isInteger(n) || n < 0 || n > 1000) throw new UsageError(`${flag} must be 0 to 1000.`);
  }
  return batchPayload(
    number,
    Array.from({ length: spec.messages }, (_, i) => ({ from: spec.from, name: spec.name, type, text: `${spec.text ?? 'Batched message'} ${i + 1}` })),
    Array.from({ length: spec.statuses }, () => ({ wamid: newWamid(spec.from), status: 'delivered' as const, recipient: spec.from })),
  );
}

/** Signs the payload over its exact bytes (non-ASCII escaped, as Meta does) and posts it to `url`. */
export async function postTrigger(deps: Pick<ServiceDeps, 'secrets'>, integration: Integration, url: string, payload: unknown): Promise<TriggerResult> {
  return postSignedBody(deps, integration, url, serializeLikeMeta(payload), wamidsOf(payload));
}

/** A delivery saved as a file (by the console, or by hand): its bytes, and the number it names. */
export async function readDeliveryFile(path: string): Promise<{ bytes: Buffer; phoneNumberId: string | undefined }> {
  const { readFile } = await import('node:fs/promises');
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new UsageError(`Cannot read --file ${path}: ${fileProblem(error)}.`);
  }
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new UsageError(`--file ${path} is not JSON: a delivery file holds one webhook body as Meta sends it.`);
  }
  const entry = (document as { entry?: Array<{ changes?: Array<{ value?: { metadata?: { phone_number_id?: unknown } } }> }> }).entry;
  if (typeof document !== 'object' || document === null || !Array.isArray(entry)) {
    throw new UsageError(`--file ${path} is not a webhook delivery (no "entry" list).`);
  }
  const id = entry[0]?.changes?.[0]?.value?.metadata?.phone_number_id;
  return { bytes, phoneNumberId: typeof id === 'string' && id !== '' ? id : undefined };
}

/** Posts a delivery file's exact bytes, signed with the number's app secret (nothing re-serialised). */
export async function postTriggerFile(deps: Pick<ServiceDeps, 'secrets'>, integration: Integration, url: string, bytes: Buffer): Promise<TriggerResult> {
  let wamids: string[] = [];
  try {
    wamids = wamidsOf(JSON.parse(bytes.toString('utf8')));
  } catch {
    // a shape wamidsOf does not know: no wamids to show
  }
  return postSignedBody(deps, integration, url, bytes, wamids);
}

async function postSignedBody(
  deps: Pick<ServiceDeps, 'secrets'>,
  integration: Integration,
  url: string,
  body: string | Buffer,
  wamids: string[],
): Promise<TriggerResult> {
  const { appSecret } = await readIntegrationSecrets(deps, integration);
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: metaSignatureHeaders(body, appSecret), body, signal: AbortSignal.timeout(10_000) });
  } catch {
    throw new UserError(`No relay answered at ${url}.`, {
      code: 'relay_unreachable',
      hint: 'Start one with `lumen relay start`, or pass --url.',
      kind: 'unavailable',
    });
  }
  const text = await response.text();
  let answer: unknown = text;
  try {
    answer = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { url, status: response.status, response: answer, wamids, ok: response.ok, text };
}

function wamidsOf(payload: unknown): string[] {
  type Value = { messages?: Array<{ id: string }>; statuses?: Array<{ id: string }>; message_echoes?: Array<{ id: string }> };
  const value = (payload as { entry: Array<{ changes: Array<{ value: Value }> }> }).entry[0]!.changes[0]!.value;
  return [...(value.messages ?? []), ...(value.statuses ?? []), ...(value.message_echoes ?? [])].map((m) => m.id);
}
