/**
 * `POST /{phone-number-id}/messages`: sends (every message type, to a phone number or a business-scoped user id)
 * and read receipts with typing indicators. Validated like Meta, queued faults applied, every outcome recorded.
 */
import { randomBytes } from 'node:crypto';
import {
  SandboxGraphError,
  badParameter,
  invalidParameterValue,
  missingParameter,
  sendError,
} from './errors.js';
import { isRecord } from './http.js';
import { isUserId, waIdOf, type SandboxState } from './state.js';
import type { SandboxTemplate, SendOutcome } from './types.js';
import {
  validateContacts,
  validateContext,
  validateInteractive,
  validateLocation,
  validateMediaObject,
  validateReaction,
  validateText,
} from './validate.js';

const MESSAGE_TYPES = [
  'audio',
  'contacts',
  'document',
  'image',
  'interactive',
  'location',
  'reaction',
  'sticker',
  'template',
  'text',
  'video',
] as const;
const CAPTIONED = new Set(['image', 'video', 'document']);
const MEDIA = new Set(['image', 'video', 'audio', 'document', 'sticker']);

export interface SendResponse {
  messaging_product: 'whatsapp';
  /** `wa_id` for a send to a phone number, `user_id` for one to a business-scoped user id. */
  contacts: ({ input: string; wa_id: string } | { input: string; user_id: string })[];
  messages: { id: string; message_status?: 'accepted' }[];
}

type Recipient = { kind: 'phone'; to: string; waId: string } | { kind: 'user'; userId: string };

/** A send, or a read receipt when the body has `status` (Meta takes both on the same edge). */
export function handleMessagesPost(
  state: SandboxState,
  phoneNumberId: string,
  body: unknown,
): SendResponse | { success: true } {
  if (isRecord(body) && body.status !== undefined) return markRead(state, phoneNumberId, body);
  return sendMessage(state, phoneNumberId, body);
}

/** Handles one parsed send body; throws SandboxGraphError for a rejected send (after recording it). */
export function sendMessage(state: SandboxState, phoneNumberId: string, body: unknown): SendResponse {
  const to = isRecord(body) && typeof body.to === 'string' ? body.to : undefined;
  const waId = to === undefined ? undefined : waIdOf(to);
  // `to` wins when both are given, as Meta documents.
  const byRecipient = (to === undefined || to.trim() === '') && isRecord(body) && typeof body.recipient === 'string';
  const userId = byRecipient ? (body.recipient as string) : undefined;
  const record = (outcome: SendOutcome): void =>
    state.recordSend({ at: state.now(), phoneNumberId, to, waId, userId, body, outcome });
  try {
    const valid = validateSend(state, body);
    const recipient = valid.recipient.kind === 'phone' ? valid.recipient.waId : valid.recipient.userId;
    // Faults model what Meta decides after accepting the request's shape.
    const fault = state.takeFault(recipient);
    if (fault) throw sendError(fault.code, { status: fault.status });
    const wamid = newWamid(recipient);
    record({ result: 'accepted', status: 200, wamid });
    return {
      messaging_product: 'whatsapp',
      contacts: [
        valid.recipient.kind === 'phone'
          ? { input: valid.recipient.to, wa_id: valid.recipient.waId }
          : { input: valid.recipient.userId, user_id: valid.recipient.userId },
      ],
      // Meta reports message_status only for template sends.
      messages: [valid.isTemplate ? { id: wamid, message_status: 'accepted' } : { id: wamid }],
    };
  } catch (error) {
    if (error instanceof SandboxGraphError) record({ result: 'failed', status: error.status, error: error.body });
    throw error;
  }
}

function checkProduct(body: Record<string, unknown>): void {
  const product = body.messaging_product;
  if (product === undefined) throw missingParameter('messaging_product');
  if (product !== 'whatsapp') {
    throw badParameter(`Param messaging_product must be one of {WHATSAPP} - got "${String(product)}".`);
  }
}

function resolveRecipient(body: Record<string, unknown>): Recipient {
  const to = body.to;
  if (typeof to === 'string' && to.trim() !== '') {
    const waId = waIdOf(to);
    if (waId === '') throw sendError(131009, { details: 'The recipient phone number is not valid.' });
    return { kind: 'phone', to, waId };
  }
  const recipient = body.recipient;
  if (recipient !== undefined) {
    if (typeof recipient !== 'string' || !isUserId(recipient)) {
      throw invalidParameterValue(
        `Param recipient must be a business-scoped user ID such as US.13491208655302741918; got ${JSON.stringify(recipient)}.`,
      );
    }
    return { kind: 'user', userId: recipient };
  }
  throw missingParameter('to');
}

function validateSend(state: SandboxState, body: unknown): { recipient: Recipient; isTemplate: boolean } {
  if (!isRecord(body)) throw missingParameter('messaging_product');
  checkProduct(body);
  const recipientType = body.recipient_type;
  if (recipientType !== undefined && recipientType !== 'individual' && recipientType !== 'group') {
    throw badParameter(`Param recipient_type must be one of {INDIVIDUAL, GROUP} - got "${String(recipientType)}".`);
  }
  const recipient = resolveRecipient(body);

  const type = body.type ?? 'text'; // Meta defaults a missing type to text
  if (typeof type !== 'string' || !(MESSAGE_TYPES as readonly string[]).includes(type)) {
    const allowed = MESSAGE_TYPES.map((t) => t.toUpperCase()).join(', ');
    throw badParameter(`Param type must be one of {${allowed}} - got "${String(type)}".`);
  }
  const payload = body[type];
  if (type === 'contacts') {
    validateContacts(payload); // an array of cards, not an object
  } else {
    if (!isRecord(payload)) throw missingParameter(type);
    if (type === 'text') validateText(payload);
    else if (MEDIA.has(type)) validateMediaObject(state.media, type, payload, type, { caption: CAPTIONED.has(type) });
    else if (type === 'interactive') validateInteractive(state.media, payload);
    else if (type === 'location') validateLocation(payload);
    else if (type === 'reaction') validateReaction(payload);
    else if (type === 'template') {
      const template = validateTemplate(state, payload);
      // Meta refuses authentication templates to users known only by a business-scoped user id.
      if (recipient.kind === 'user' && template.category === 'AUTHENTICATION') throw sendError(131062);
      checkBodyParameters(template, (payload.components ?? []) as unknown[]);
    }
  }
  if (body.context !== undefined) validateContext(body.context);
  return { recipient, isTemplate: type === 'template' };
}

/** `{messaging_product, status: "read", message_id, typing_indicator?: {type: "text"}}` → `{success: true}`. */
function markRead(state: SandboxState, phoneNumberId: string, body: Record<string, unknown>): { success: true } {
  const messageId = typeof body.message_id === 'string' ? body.message_id : undefined;
  const indicator = body.typing_indicator;
  const typingIndicator = isRecord(indicator) && typeof indicator.type === 'string' ? indicator.type : undefined;
  const record = (outcome: { result: 'accepted'; status: 200 } | { result: 'failed'; status: number; error: SandboxGraphError['body'] }) =>
    state.recordRead({ at: state.now(), phoneNumberId, messageId, typingIndicator, body, outcome });
  try {
    checkProduct(body);
    if (body.status !== 'read') throw badParameter(`Param status must be one of {READ} - got "${String(body.status)}".`);
    if (body.message_id === undefined || body.message_id === null || body.message_id === '') throw missingParameter('message_id');
    if (messageId === undefined) throw badParameter('Param message_id must be a string.');
    // Only messages users sent to this number can be marked read.
    if (!/^wamid\.[A-Za-z0-9+/=_-]+$/.test(messageId) || !state.knowsInbound(messageId)) {
      throw invalidParameterValue(`Param message_id (${messageId}) is not the id of a message this number received.`);
    }
    if (indicator !== undefined) {
      if (!isRecord(indicator)) throw badParameter('Param typing_indicator must be an object.');
      if (indicator.type !== 'text') {
        throw badParameter(`Param typing_indicator['type'] must be one of {TEXT} - got "${String(indicator.type)}".`);
      }
    }
    record({ result: 'accepted', status: 200 });
    return { success: true };
  } catch (error) {
    if (error instanceof SandboxGraphError) record({ result: 'failed', status: error.status, error: error.body });
    throw error;
  }
}

function validateTemplate(state: SandboxState, template: Record<string, unknown>): SandboxTemplate {
  const name = template.name;
  if (typeof name !== 'string' || name === '') throw missingParameter("template['name']");
  const code = isRecord(template.language) ? template.language.code : undefined;
  if (typeof code !== 'string' || code === '') {
    throw missingParameter("template['language']['code']");
  }
  const components = template.components ?? [];
  if (!Array.isArray(components)) throw badParameter("Param template['components'] must be an array.");

  const found = state.findTemplate(name, code);
  if (found?.status === 'PAUSED') throw sendError(132015);
  // Meta answers an unapproved template the same as a missing one.
  if (!found || found.status !== 'APPROVED') {
    throw sendError(132001, { details: `template name (${name}) does not exist in ${code}` });
  }
  return found;
}

function checkBodyParameters(template: SandboxTemplate, components: unknown[]): void {
  const bodyText = template.components.find((c) => c.type === 'BODY')?.text ?? '';
  const sentBody = components.find((c) => isRecord(c) && typeof c.type === 'string' && c.type.toLowerCase() === 'body');
  const sent = isRecord(sentBody) && Array.isArray(sentBody.parameters) ? sentBody.parameters : [];
  const expected = placeholders(bodyText);
  if (sent.length !== expected.length) {
    throw sendError(132000, {
      details: `body: number of localizable_params (${sent.length}) does not match the expected number of params (${expected.length})`,
    });
  }
  if (template.parameter_format === 'NAMED') {
    const names = sent.map((p) => (isRecord(p) ? p.parameter_name : undefined));
    const missing = expected.filter((n) => !names.includes(n));
    if (missing.length > 0) {
      throw sendError(132000, {
        details: `body: parameter_name values (${names.map(String).join(', ')}) do not match the expected params (${expected.join(', ')})`,
      });
    }
  }
}

/** Distinct `{{1}}` / `{{name}}` placeholders, in order of first appearance. */
function placeholders(text: string): string[] {
  const found = [...text.matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)].map((m) => m[1] as string);
  return [...new Set(found)];
}

/** Same layout as Meta's wamids (a base64 blob carrying the recipient and a random message key), unique per call. */
function newWamid(waId: string): string {
  const key = randomBytes(10).toString('hex').toUpperCase();
  const blob = Buffer.concat([
    Buffer.from([0x1c, 0x18, waId.length & 0xff]),
    Buffer.from(waId),
    Buffer.from([0x15, 0x02, 0x00, 0x11, 0x18, key.length]),
    Buffer.from(key),
    Buffer.from([0x00]),
  ]);
  return `wamid.${blob.toString('base64')}`;
}
