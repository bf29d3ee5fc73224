/**
 * The sandbox's own control API under /_sandbox/ (no token; the server only serves it to loopback peers).
 * Shapes are ours, not Meta's: camelCase, errors as `{error:{message}}`.
 */
import { isRecord } from './http.js';
import { INBOUND_TYPES, inboundPayload, statusPayload, type InboundSpec, type NumberInfo, type StatusSpec } from './payloads.js';
import type { WebhookSender } from './webhooks.js';
import type { SandboxState } from './state.js';
import type { SandboxFault } from './types.js';

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
      return setWebhook(hooks.webhooks, body);
    case 'POST inbound':
      return postInbound(hooks, body);
    case 'POST status':
      return postStatus(hooks, body);
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

function setWebhook(webhooks: WebhookSender, body: unknown): ControlResult {
  const url = isRecord(body) ? body.url : undefined;
  if (url !== null && typeof url !== 'string') return controlError(400, 'Body must be {"url": "http://…"} (or null to stop webhooks).');
  if (typeof url === 'string' && !/^https?:\/\//.test(url)) return controlError(400, 'The webhook URL must be http(s).');
  webhooks.url = url ?? undefined;
  return { status: 200, body: { success: true, url: webhooks.url ?? null } };
}

function postInbound(hooks: { webhooks: WebhookSender; number: NumberInfo }, body: unknown): ControlResult {
  if (!hooks.webhooks.url) return controlError(409, 'No webhook URL: POST /_sandbox/webhook {"url": …} first.');
  const spec = (isRecord(body) ? body : {}) as Partial<InboundSpec>;
  if (typeof spec.from !== 'string' || !/^\d{8,15}$/.test(spec.from)) return controlError(400, '"from" must be the sender\'s digits, e.g. "15551234567".');
  if (spec.type !== undefined && !(INBOUND_TYPES as readonly string[]).includes(spec.type)) {
    return controlError(400, `"type" must be one of ${INBOUND_TYPES.join(', ')}.`);
  }
  const delivery = hooks.webhooks.send('inbound', inboundPayload(hooks.number, [spec as InboundSpec]));
  return { status: 202, body: { success: true, delivery: delivery?.id ?? null } };
}

function postStatus(hooks: { webhooks: WebhookSender; number: NumberInfo }, body: unknown): ControlResult {
  if (!hooks.webhooks.url) return controlError(409, 'No webhook URL: POST /_sandbox/webhook {"url": …} first.');
  const spec = (isRecord(body) ? body : {}) as Partial<StatusSpec>;
  if (typeof spec.wamid !== 'string' || !['sent', 'delivered', 'read', 'failed'].includes(String(spec.status))) {
    return controlError(400, 'Body must be {"wamid": "wamid.…", "status": "sent|delivered|read|failed", "recipient": "…"}.');
  }
  const delivery = hooks.webhooks.send('status', statusPayload(hooks.number, [{ recipient: '', ...spec } as StatusSpec]));
  return { status: 202, body: { success: true, delivery: delivery?.id ?? null } };
}
