/** `POST /{phone-number-id}/messages`: validate like Meta, apply queued faults, record every outcome. */
import { randomBytes } from 'node:crypto';
import { SandboxGraphError, invalidParameter, sendError } from './errors.js';
import { isRecord } from './http.js';
import { waIdOf, type SandboxState } from './state.js';
import type { SandboxTemplate, SendOutcome } from './types.js';

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
const TEXT_BODY_MAX = 4096;

export interface SendResponse {
  messaging_product: 'whatsapp';
  contacts: { input: string; wa_id: string }[];
  messages: { id: string; message_status?: 'accepted' }[];
}

/** Handles one parsed send body; throws SandboxGraphError for a rejected send (after recording it). */
export function sendMessage(state: SandboxState, phoneNumberId: string, body: unknown): SendResponse {
  const to = isRecord(body) && typeof body.to === 'string' ? body.to : undefined;
  const waId = to === undefined ? undefined : waIdOf(to);
  const record = (outcome: SendOutcome): void =>
    state.recordSend({ at: Date.now(), phoneNumberId, to, waId, body, outcome });
  try {
    const valid = validateSend(state, body);
    // Faults model what Meta decides after accepting the request's shape.
    const fault = state.takeFault(valid.waId);
    if (fault) throw sendError(fault.code, { status: fault.status });
    const wamid = newWamid(valid.waId);
    record({ result: 'accepted', status: 200, wamid });
    return {
      messaging_product: 'whatsapp',
      contacts: [{ input: valid.to, wa_id: valid.waId }],
      // Meta reports message_status only for template sends.
      messages: [valid.isTemplate ? { id: wamid, message_status: 'accepted' } : { id: wamid }],
    };
  } catch (error) {
    if (error instanceof SandboxGraphError) record({ result: 'failed', status: error.status, error: error.body });
    throw error;
  }
}

function validateSend(state: SandboxState, body: unknown): { to: string; waId: string; isTemplate: boolean } {
  if (!isRecord(body)) throw invalidParameter('The parameter messaging_product is required.');
  const product = body.messaging_product;
  if (product === undefined) throw invalidParameter('The parameter messaging_product is required.');
  if (product !== 'whatsapp') {
    throw invalidParameter(`Param messaging_product must be one of {WHATSAPP} - got "${String(product)}".`);
  }
  const recipientType = body.recipient_type;
  if (recipientType !== undefined && recipientType !== 'individual' && recipientType !== 'group') {
    throw invalidParameter(`Param recipient_type must be one of {INDIVIDUAL, GROUP} - got "${String(recipientType)}".`);
  }
  const to = body.to;
  if (typeof to !== 'string' || to.trim() === '') throw invalidParameter('The parameter to is required.');
  const waId = waIdOf(to);
  if (waId === '') throw sendError(131009, { details: 'The recipient phone number is not valid.' });

  const type = body.type ?? 'text'; // Meta defaults a missing type to text
  if (typeof type !== 'string' || !(MESSAGE_TYPES as readonly string[]).includes(type)) {
    const allowed = MESSAGE_TYPES.map((t) => t.toUpperCase()).join(', ');
    throw invalidParameter(`Param type must be one of {${allowed}} - got "${String(type)}".`);
  }
  const payload = body[type];
  if (!isRecord(payload)) throw invalidParameter(`The parameter ${type} is required.`);
  if (type === 'text') validateText(payload);
  if (type === 'template') validateTemplate(state, payload);
  return { to, waId, isTemplate: type === 'template' };
}

function validateText(text: Record<string, unknown>): void {
  if (typeof text.body !== 'string' || text.body === '') throw invalidParameter("The parameter text['body'] is required.");
  if (text.body.length > TEXT_BODY_MAX) {
    throw invalidParameter(`Param text['body'] must be at most ${TEXT_BODY_MAX} characters long.`);
  }
}

function validateTemplate(state: SandboxState, template: Record<string, unknown>): void {
  const name = template.name;
  if (typeof name !== 'string' || name === '') throw invalidParameter("The parameter template['name'] is required.");
  const code = isRecord(template.language) ? template.language.code : undefined;
  if (typeof code !== 'string' || code === '') {
    throw invalidParameter("The parameter template['language']['code'] is required.");
  }
  const components = template.components ?? [];
  if (!Array.isArray(components)) throw invalidParameter("Param template['components'] must be an array.");

  const found = state.findTemplate(name, code);
  if (found?.status === 'PAUSED') throw sendError(132015);
  // Meta answers an unapproved template the same as a missing one.
  if (!found || found.status !== 'APPROVED') {
    throw sendError(132001, { details: `template name (${name}) does not exist in ${code}` });
  }
  checkBodyParameters(found, components);
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

/** Same layout as Meta's wamids (a base64 blob carrying the wa_id and a random message key), unique per call. */
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
