import { join } from 'node:path';
import type { Context } from '../context.js';
import type { Options } from '../declare.js';
import { serviceDeps } from '../deps.js';
import { UsageError, UserError, type Outcome } from '../../errors.js';
import { normalizeSender } from '../parse.js';
import { readRelayState } from '../../relay/state-file.js';
import { readIntegrationSecrets, resolveIntegration, webhookPath } from '../../services/whatsapp/integrations.js';
import type { trigger } from './index.js';

/** `lumen trigger message|status|batch`: a realistic signed delivery, posted to a relay, its answer printed. */
export async function run(ctx: Context, options: Options<typeof trigger>, what: string): Promise<Outcome> {
  const payloads = await import('../../sandbox/payloads.js');
  const deps = await serviceDeps(ctx);
  const integration = await resolveIntegration(deps.store, await ctx.workspace(), options.integration);
  const { appSecret } = await readIntegrationSecrets(deps, integration);
  const number = {
    wabaId: integration.wabaId,
    phoneNumberId: integration.phoneNumberId,
    displayPhoneNumber: (integration.displayPhoneNumber ?? '').replace(/\D/g, ''),
  };
  const from = normalizeSender(options.from);
  if (!/^\d{8,15}$/.test(from)) throw new UsageError(`--from must be a phone number; got "${options.from}".`);
  const type = options.type as (typeof payloads.INBOUND_TYPES)[number];
  if (!payloads.INBOUND_TYPES.includes(type)) {
    throw new UsageError(`--type must be one of ${payloads.INBOUND_TYPES.join(', ')}; got "${options.type}".`);
  }

  let payload: unknown;
  if (what === 'message') {
    payload = payloads.inboundPayload(number, [
      { from, name: options.name, type, text: options.text ?? 'Hello from lumen trigger', ...(options.replyTo ? { contextWamid: options.replyTo } : {}) },
    ]);
  } else if (what === 'status') {
    if (!options.wamid) throw new UsageError('Missing --wamid (the sent message the status is about; see `lumen messages show`).');
    const status = options.status ?? 'delivered';
    if (!['sent', 'delivered', 'read', 'failed'].includes(status)) {
      throw new UsageError(`--status must be sent, delivered, read or failed; got "${status}".`);
    }
    payload = payloads.statusPayload(number, [
      {
        wamid: options.wamid,
        status: status as 'sent',
        recipient: from,
        ...(options.errorCode ? { errorCode: Number(options.errorCode) } : {}),
      },
    ]);
  } else if (what === 'batch') {
    const messages = Number(options.messages);
    const statuses = Number(options.statuses);
    if (!Number.isInteger(messages) || messages < 0 || messages > 1000) throw new UsageError('--messages must be 0 to 1000.');
    if (!Number.isInteger(statuses) || statuses < 0 || statuses > 1000) throw new UsageError('--statuses must be 0 to 1000.');
    payload = payloads.batchPayload(
      number,
      Array.from({ length: messages }, (_, i) => ({ from, name: options.name, type, text: `${options.text ?? 'Batched message'} ${i + 1}` })),
      Array.from({ length: statuses }, () => ({ wamid: payloads.newWamid(from), status: 'delivered' as const, recipient: from })),
    );
  } else {
    throw new UsageError(`Trigger what? message, status or batch; got "${what}".`);
  }

  const { metaSignatureHeaders } = await import('../../sandbox/webhooks.js');
  const body = payloads.serializeLikeMeta(payload);
  const url = options.url ?? `${runningRelayUrl(ctx) ?? 'http://127.0.0.1:8787'}${webhookPath(integration.id)}`;
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: metaSignatureHeaders(body, appSecret), body, signal: AbortSignal.timeout(10_000) });
  } catch {
    throw new UserError(`No relay answered at ${url}.`, {
      code: 'relay_unreachable',
      hint: 'Start one with `lumen relay start`, or pass --url.',
    });
  }
  const text = await response.text();
  let answer: unknown = text;
  try {
    answer = JSON.parse(text);
  } catch {
    // keep the text
  }
  const sentWamids = collectWamids(payload);
  ctx.out.result({ url, status: response.status, response: answer, wamids: sentWamids }, () => [
    `POST ${url}`,
    `← ${response.status} ${text}`,
  ]);
  return response.ok ? 'ok' : 'failed';
}

function collectWamids(payload: unknown): string[] {
  const value = (payload as { entry: Array<{ changes: Array<{ value: { messages?: Array<{ id: string }>; statuses?: Array<{ id: string }> } }> }> })
    .entry[0]!.changes[0]!.value;
  return [...(value.messages ?? []), ...(value.statuses ?? [])].map((m) => m.id);
}

function runningRelayUrl(ctx: Context): string | undefined {
  return readRelayState(join(ctx.paths.dataDir, 'relay.json'))?.url;
}

