/**
 * The sandbox's own control API under /_sandbox/ (no token; the server only serves it to loopback peers).
 * Shapes are ours, not Meta's: camelCase, errors as `{error:{message}}`.
 */
import { TEMPLATE_STATUSES as META_TEMPLATE_STATUSES } from '../relay/types.js';
import { parseCallbackUrl } from './handshake.js';
import { isRecord } from './http.js';
import { postInbound, type SandboxInboundSpec } from './inbound.js';
import { MEDIA_LIMITS, baseMimeType } from './media.js';
import { MEDIA_MESSAGE_TYPES, SANDBOX_INBOUND_TYPES, statusPayload, type NumberInfo, type StatusSpec } from './payloads.js';
import type { WebhookSender } from './webhooks.js';
import { FIELD_EVENTS, fieldEventPayload, type FieldEventSpec } from './field-events.js';
import { isUserId, type SandboxState } from './state.js';
import type { SandboxFault, SandboxMediaFault, SandboxTemplate } from './types.js';

export interface ControlResult {
  status: number;
  body: unknown;
}

export function handleControlRequest(
  state: SandboxState,
  method: string,
  route: string,
  query: URLSearchParams,
  body: unknown,
  hooks: { webhooks: WebhookSender; number: NumberInfo },
): ControlResult {
  const key = `${method} ${route}`;
  switch (key) {
    case 'GET state':
      return { status: 200, body: state.status() };
    case 'GET sent':
      return { status: 200, body: { data: state.sent(query.get('to') ?? undefined) } };
    case 'POST faults':
      return addFault(state, body);
    case 'POST reset':
      state.reset();
      return { status: 200, body: { success: true } };
    case 'GET webhooks':
      return { status: 200, body: { url: hooks.webhooks.url ?? null, data: hooks.webhooks.list() } };
    case 'POST webhook':
      return setWebhook(state, body);
    case 'POST inbound':
      return inbound(state, hooks, body);
    case 'GET reads':
      return { status: 200, body: { data: state.readReceipts() } };
    case 'GET media':
      return { status: 200, body: { data: state.media.list() } };
    case 'POST media/expire':
      return expireMedia(state, body);
    case 'POST media/faults':
      return addMediaFault(state, body);
    case 'POST templates':
      return addTemplates(state, body);
    case 'POST status':
      return postStatus(hooks, body);
    case 'POST events':
      return postFieldEvent(state, hooks, body);
    default:
      return controlError(404, `No sandbox control route ${method} /_sandbox/${route}.`);
  }
}

function addFault(state: SandboxState, body: unknown): ControlResult {
  if (!isRecord(body)) return controlError(400, 'Body must be a JSON object {to, code, times?, status?}.');
  const fault = body as unknown as SandboxFault;
  try {
    state.addFault(fault);
  } catch (error) {
    return controlError(400, (error as Error).message);
  }
  return { status: 200, body: { success: true, fault: { to: fault.to, code: fault.code, times: fault.times ?? 1 } } };
}

function controlError(status: number, message: string): ControlResult {
  return { status, body: { error: { message } } };
}

/** The app's Callback URL. A number's or WABA's override (registered by `lumen relay start`) wins over it. */
function setWebhook(state: SandboxState, body: unknown): ControlResult {
  const url = isRecord(body) ? body.url : undefined;
  if (url !== null && typeof url !== 'string') return controlError(400, 'Body must be {"url": "http://…"} (or null to stop webhooks).');
  if (typeof url === 'string') {
    try {
      parseCallbackUrl(url, 'url');
    } catch {
      return controlError(400, `Not a URL: ${JSON.stringify(url.slice(0, 80))}. Give the relay's full webhook URL (\`lumen whatsapp status\` prints its path).`);
    }
  }
  state.setAppCallbackUrl(url ?? undefined);
  return { status: 200, body: { success: true, url: state.appCallbackUrl ?? null, target: state.webhookTarget() ?? null } };
}

const MIME = /^[a-z]+\/[a-z0-9.+-]+(\s*;.*)?$/i;

function inbound(state: SandboxState, hooks: { webhooks: WebhookSender; number: NumberInfo }, body: unknown): ControlResult {
  if (!hooks.webhooks.url) return controlError(409, 'No webhook URL: POST /_sandbox/webhook {"url": …} first.');
  const spec = (isRecord(body) ? body : {}) as Partial<SandboxInboundSpec> & Record<string, unknown>;
  const problem = inboundProblem(spec);
  if (problem !== undefined) return controlError(400, problem);
  const posted = postInbound(state, hooks.webhooks, hooks.number, [spec as SandboxInboundSpec]);
  const message = posted?.messages[0];
  return {
    status: 202,
    body: { success: true, delivery: posted?.delivery?.id ?? null, wamid: message?.wamid ?? null, media: message?.media ?? null },
  };
}

function inboundProblem(spec: Record<string, unknown>): string | undefined {
  const { from, userId, type, data, mimeType } = spec;
  if (from === undefined && userId === undefined) return 'Give "from" (the sender\'s digits, e.g. "15551234567") or "userId" (e.g. "US.13491208655302741918").';
  if (from !== undefined && (typeof from !== 'string' || !/^\d{8,15}$/.test(from))) return '"from" must be the sender\'s digits, e.g. "15551234567".';
  if (userId !== undefined && (typeof userId !== 'string' || !isUserId(userId))) {
    return '"userId" must be a business-scoped user id, e.g. "US.13491208655302741918".';
  }
  if (type !== undefined && !(SANDBOX_INBOUND_TYPES as readonly unknown[]).includes(type)) {
    return `"type" must be one of ${SANDBOX_INBOUND_TYPES.join(', ')}.`;
  }
  for (const name of ['text', 'caption', 'filename', 'name', 'contextWamid', 'wamid'] as const) {
    if (spec[name] !== undefined && typeof spec[name] !== 'string') return `"${name}" must be a string.`;
  }
  const media = (MEDIA_MESSAGE_TYPES as readonly unknown[]).includes(type);
  if ((data !== undefined || mimeType !== undefined) && !media) return '"data" and "mimeType" go with a media type (image, video, audio, document, sticker).';
  if (data !== undefined && (typeof data !== 'string' || data === '' || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(data))) {
    return '"data" must be the file\'s bytes in base64.';
  }
  if (mimeType !== undefined) {
    if (typeof mimeType !== 'string' || !MIME.test(mimeType)) return '"mimeType" must be a MIME type, e.g. "image/jpeg".';
    const kind = type as keyof typeof MEDIA_LIMITS;
    // Users send documents of any type; other media arrive in the types Meta supports for them.
    if (kind !== 'document' && !MEDIA_LIMITS[kind].types.includes(baseMimeType(mimeType))) {
      return `"mimeType" for ${kind} must be one of ${MEDIA_LIMITS[kind].types.join(', ')}.`;
    }
  }
  return undefined;
}

function expireMedia(state: SandboxState, body: unknown): ControlResult {
  const id = isRecord(body) ? body.id : undefined;
  if (id !== undefined && (typeof id !== 'string' || !state.media.has(id))) return controlError(404, `No media with id ${JSON.stringify(id)}.`);
  return { status: 200, body: { success: true, expired: state.media.expireUrls(id) } };
}

function addMediaFault(state: SandboxState, body: unknown): ControlResult {
  if (!isRecord(body)) return controlError(400, 'Body must be a JSON object {id?, on?: "download"|"info", times?, status?}.');
  try {
    const fault = state.media.addFault(body as SandboxMediaFault);
    return { status: 200, body: { success: true, fault } };
  } catch (error) {
    return controlError(400, (error as Error).message);
  }
}

const TEMPLATE_STATUSES = ['APPROVED', 'PENDING', 'REJECTED', 'PAUSED', 'DISABLED'];
const TEMPLATE_CATEGORIES = ['UTILITY', 'MARKETING', 'AUTHENTICATION'];

/** `POST /_sandbox/templates`: one template, an array, or `{templates: […]}`, in Meta's shape. */
function addTemplates(state: SandboxState, body: unknown): ControlResult {
  const list = Array.isArray(body) ? body : isRecord(body) && Array.isArray(body.templates) ? body.templates : [body];
  for (const [i, t] of list.entries()) {
    const where = `templates[${i}]`;
    if (!isRecord(t)) return controlError(400, `${where} must be a template object.`);
    if (typeof t.id !== 'string' || !/^\d+$/.test(t.id)) return controlError(400, `${where}.id must be a numeric string.`);
    if (typeof t.name !== 'string' || t.name === '' || typeof t.language !== 'string' || t.language === '') {
      return controlError(400, `${where} needs a name and a language.`);
    }
    if (!TEMPLATE_STATUSES.includes(String(t.status))) return controlError(400, `${where}.status must be one of ${TEMPLATE_STATUSES.join(', ')}.`);
    if (!TEMPLATE_CATEGORIES.includes(String(t.category))) return controlError(400, `${where}.category must be one of ${TEMPLATE_CATEGORIES.join(', ')}.`);
    if (!Array.isArray(t.components)) return controlError(400, `${where}.components must be an array.`);
    t.parameter_format ??= 'POSITIONAL';
  }
  state.addTemplates(list as SandboxTemplate[]);
  return { status: 200, body: { success: true, templates: state.status().templates } };
}

function postStatus(hooks: { webhooks: WebhookSender; number: NumberInfo }, body: unknown): ControlResult {
  if (!hooks.webhooks.url) return controlError(409, 'No webhook URL: POST /_sandbox/webhook {"url": …} first.');
  const spec = (isRecord(body) ? body : {}) as Partial<StatusSpec>;
  if (typeof spec.wamid !== 'string' || !['sent', 'delivered', 'read', 'failed'].includes(String(spec.status))) {
    return controlError(400, 'Body must be {"wamid": "wamid.…", "status": "sent|delivered|read|failed", "recipient": "…", "recipientUserId"?: "…"}.');
  }
  const delivery = hooks.webhooks.send('status', statusPayload(hooks.number, [{ recipient: '', ...spec } as StatusSpec]));
  return { status: 202, body: { success: true, delivery: delivery?.id ?? null } };
}

/**
 * `POST /_sandbox/events {"what": "template"|"account"|"echo"|…, …}`: the webhook Meta sends for it. A template
 * status or category change is also made to the sandbox's own template, as Meta's would be.
 */
function postFieldEvent(state: SandboxState, hooks: { webhooks: WebhookSender; number: NumberInfo }, body: unknown): ControlResult {
  if (!hooks.webhooks.url) return controlError(409, 'No webhook URL: POST /_sandbox/webhook {"url": …} first.');
  const spec = (isRecord(body) ? body : {}) as Partial<FieldEventSpec>;
  if (!(FIELD_EVENTS as readonly unknown[]).includes(spec.what)) return controlError(400, `"what" must be one of ${FIELD_EVENTS.join(', ')}.`);
  let payload: unknown;
  try {
    payload = fieldEventPayload(hooks.number, spec as FieldEventSpec);
  } catch (error) {
    return controlError(400, `${spec.what} ${(error as Error).message}.`);
  }
  if ((spec.what === 'template' || spec.what === 'template-category') && spec.template) {
    const language = spec.language ?? 'en_US';
    if (spec.what === 'template') {
      // As Meta (and the relay): REINSTATED approves the template again; FLAGGED (quality) and other events leave its status.
      const event = (spec.event ?? 'PAUSED').toUpperCase();
      const status = event === 'REINSTATED' ? 'APPROVED' : event;
      if (META_TEMPLATE_STATUSES.includes(status)) state.changeTemplate(spec.template, language, { status: status as SandboxTemplate['status'] });
    }
    else state.changeTemplate(spec.template, language, { category: (spec.category ?? 'MARKETING').toUpperCase() as SandboxTemplate['category'] });
  }
  const delivery = hooks.webhooks.send(`event.${spec.what}`, payload);
  return { status: 202, body: { success: true, delivery: delivery?.id ?? null } };
}
