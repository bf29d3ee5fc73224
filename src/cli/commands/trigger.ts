import { join } from 'node:path';
import type { Context } from '../context.js';
import type { Options } from '../declare.js';
import { serviceDeps } from '../deps.js';
import { UsageError, UserError, type Outcome } from '../../errors.js';
import { normalizeSender } from '../flag-values.js';
import { readRelayState } from '../../relay/state-file.js';
import type { TriggerSpec } from '../../services/webhooks/trigger.js';
import { FIELD_EVENTS, type FieldEvent, type FieldEventSpec } from '../../sandbox/field-events.js';
import { resolveIntegration } from '../../services/whatsapp/integrations.js';
import { webhookPath } from '../../webhooks.js';
import type { trigger } from './index.js';

/** `lumen trigger message|status|batch`: a realistic signed delivery, posted to a relay, its answer printed. */
export async function run(ctx: Context, options: Options<typeof trigger>, what: string | undefined): Promise<Outcome> {
  const { postTrigger, postTriggerFile, triggerPayload } = await import('../../services/webhooks/trigger.js');
  const deps = await serviceDeps(ctx);
  if (options.file !== undefined) {
    if (what !== undefined) throw new UsageError(`--file posts the file as it is: leave out "${what}".`);
    const { readDeliveryFile } = await import('../../services/webhooks/trigger.js');
    const file = await readDeliveryFile(options.file);
    const integration = await resolveIntegration(deps.store, await ctx.workspace(), options.integration ?? file.phoneNumberId);
    const url = checkedUrl(options.url) ?? `${runningRelayUrl(ctx)}${webhookPath(integration.id)}`;
    const result = await postTriggerFile(deps, integration, url, file.bytes);
    ctx.out.result({ url, status: result.status, response: result.response, wamids: result.wamids }, () => [
      `POST ${url} (${file.bytes.length} bytes from ${options.file})`,
      `← ${result.status} ${result.text}`,
    ]);
    return result.ok ? 'ok' : 'failed';
  }
  if (what === undefined) throw new UsageError('Trigger what? message, status or batch (or --file FILE).');
  const integration = await resolveIntegration(deps.store, await ctx.workspace(), options.integration);
  const from = normalizeSender(options.from);
  let spec: TriggerSpec;
  if (what === 'message') {
    spec = { what, from, name: options.name, type: options.type, text: options.text, replyTo: options.replyTo };
  } else if (what === 'status') {
    if (!options.wamid) throw new UsageError('Missing --wamid (the sent message the status is about; see `lumen messages show`).');
    if (options.errorCode !== undefined && !/^\d{1,9}$/.test(options.errorCode)) {
      throw new UsageError(`--error-code must be Meta's numeric error code (e.g. 131047); got "${options.errorCode}".`);
    }
    spec = { what, from, wamid: options.wamid, status: options.status ?? 'delivered', errorCode: options.errorCode ? Number(options.errorCode) : undefined };
  } else if (what === 'batch') {
    spec = { what, from, name: options.name, type: options.type, text: options.text, messages: Number(options.messages), statuses: Number(options.statuses) };
  } else if ((FIELD_EVENTS as readonly string[]).includes(what)) {
    const event: FieldEventSpec = {
      what: what as FieldEvent,
      template: options.template,
      language: options.lang,
      event: options.event,
      reason: options.reason,
      category: options.category,
      quality: options.quality,
      limit: options.limit,
      restriction: options.restriction,
      coexistence: options.coexistence ? true : undefined,
      value: options.value,
      wamid: options.wamid,
      text: options.text,
      user: options.to ? normalizeSender(options.to, '--to') : undefined,
    };
    if (what.startsWith('template') && !options.template) throw new UsageError(`Missing --template (the template the ${what} webhook is about).`);
    if ((what === 'edit' || what === 'revoke') && !options.wamid) {
      throw new UsageError(`Missing --wamid (the message to ${what === 'edit' ? 'edit' : 'delete'}; see \`lumen messages list\`).`);
    }
    if (options.value !== undefined && !['stop', 'resume'].includes(options.value)) {
      throw new UsageError(`--value must be stop or resume; got "${options.value}".`);
    }
    spec = { what: 'field', from, event };
  } else {
    throw new UsageError(`Trigger what? message, status, batch or ${FIELD_EVENTS.join(', ')}; got "${what}".`);
  }
  const payload = await triggerPayload(deps, integration, spec);
  const url = checkedUrl(options.url) ?? `${runningRelayUrl(ctx)}${webhookPath(integration.id)}`;
  const result = await postTrigger(deps, integration, url, payload);
  ctx.out.result({ url, status: result.status, response: result.response, wamids: result.wamids }, () => [
    `POST ${url}`,
    `← ${result.status} ${result.text}`,
  ]);
  return result.ok ? 'ok' : 'failed';
}

/** Where this LUMEN_HOME's relay listens; without one running there is nobody to post to (unless --url says). */
function runningRelayUrl(ctx: Context): string {
  const state = readRelayState(join(ctx.paths.dataDir, 'relay.json'));
  if (!state) {
    throw new UserError(`No relay is running for this LUMEN_HOME (${ctx.paths.dataDir}).`, {
      code: 'relay_not_running',
      hint: 'Start one with `lumen relay start` (in this LUMEN_HOME), or pass --url to post elsewhere.',
      kind: 'unavailable',
    });
  }
  return state.url;
}

/** `--url`: the relay's full webhook URL (http or https); anything else is a usage error, not an unreachable relay. */
function checkedUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`--url must be a full http(s) URL, e.g. http://127.0.0.1:8787/webhooks/whatsapp/wa_…; got "${value}".`);
  }
  return value;
}
