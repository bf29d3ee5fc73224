import { join } from 'node:path';
import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import type { Outcome } from '../../../errors.js';
import { whatsappStatus, type IntegrationStatus } from '../../../services/whatsapp/status.js';
import type { status } from './index.js';

const SECRET_STORE_NAMES: Record<string, string> = {
  keychain: 'OS keychain',
  file: 'encrypted file',
  database: 'the database (encrypted)',
  memory: 'memory',
};

export async function run(ctx: Context, options: Options<typeof status>): Promise<Outcome> {
  const deps = await serviceDeps(ctx);
  const workspace = await ctx.workspace();
  const { runningRelay } = await import('../../../relay/state-file.js');
  const relay = await runningRelay(join(ctx.paths.dataDir, 'relay.json'));
  const query = { integration: options.integration, relayPublicUrl: relay?.publicUrl ?? null };
  const result = await (options.check
    ? ctx.out.step(
        'Checking with the Graph API',
        () => whatsappStatus(deps, workspace, { ...query, check: true }),
        (r) => (r.integrations.every((i) => i.check?.ok) ? 'Checked with the Graph API' : { failed: 'Check failed (see below)' }),
      )
    : whatsappStatus(deps, workspace, { ...query, check: false }));
  ctx.out.result(result, () => result.integrations.flatMap((i) => render(ctx, i)));
  // A rejected token is an auth failure for scripts too, even though every number was reported.
  const tokenRejected = result.integrations.some((i) => i.check?.token === 'invalid');
  const checkFailed = result.integrations.some((i) => i.check && !i.check.ok);
  return tokenRejected ? 'auth' : checkFailed ? 'failed' : 'ok';
}

/** Where Meta sends this number's webhooks, as read back now, said plainly when it is not here. */
function metaLines(ctx: Context, i: IntegrationStatus): string[] {
  const s = ctx.out.style;
  const meta = i.webhook.meta;
  if (!meta) return [`  Meta sends to  ${s.dim(`unknown (${i.webhook.readBackError?.message ?? 'not asked'})`)}`];
  const level = meta.configuration.phoneNumber
    ? "the number's override"
    : meta.configuration.whatsappBusinessAccount
      ? "the WABA's override"
      : meta.configuration.application
        ? "the app's Callback URL"
        : '';
  if (meta.callbackUrl === null) return [`  Meta sends to  ${s.red('nowhere: no Callback URL is set')} (start the relay with --public-url, or a tunnel)`];
  const line = `  Meta sends to  ${meta.callbackUrl} (${level})`;
  // A relay running here is "this relay"; else the URL a relay registered last (maybe on another host of a shared database).
  const relay = meta.expectedFrom === 'running_relay' ? 'this relay' : "lumen's registered URL";
  if (meta.pointsHere === false) {
    return [line, `                 ${s.red(`not ${relay}: deliveries go somewhere else (lumen expects ${meta.expectedUrl})`)}`];
  }
  return [meta.pointsHere ? `${line} ${s.green(`✓ ${relay}`)}` : line];
}

function render(ctx: Context, i: IntegrationStatus): string[] {
  const s = ctx.out.style;
  const lines = [
    `${s.bold(i.label)}  ${s.cyan(i.id)}`,
    `  Phone          ${i.phone.displayPhoneNumber ?? '?'} (id ${i.phone.id})${i.phone.verifiedName ? ` · ${i.phone.verifiedName}` : ''}`,
    `  WABA           ${i.wabaId}${i.appSubscribed ? (i.webhook.meta?.appSubscribed ? ' · this app subscribed' : '') : s.yellow(' · app not subscribed: messages will not arrive')}`,
    `  Quality        ${i.phone.qualityRating ?? 'unknown'} (at last sync)`,
    `  Templates      ${i.templates.total} (${i.templates.approved} approved), synced ${i.templates.syncedAt ? ctx.time.atRelative(i.templates.syncedAt) : 'never'}`,
    `  Webhook        ${i.webhook.url ?? `<public relay URL>${i.webhook.path}`}`,
    ...metaLines(ctx, i),
    `  Secrets        ${SECRET_STORE_NAMES[i.secretStore] ?? i.secretStore}`,
    `  Connected      ${ctx.time.atRelative(i.connectedAt)}`,
  ];
  lines.push(...accountLines(ctx, i));
  if (i.check) {
    const c = i.check;
    lines.push(
      c.ok
        ? `  Check          ${s.green('ok')} · token valid · quality ${c.qualityRating ?? 'unknown'} · ${c.templates?.total ?? 0} templates (${c.templates?.approved ?? 0} approved)`
        : `  Check          ${s.red('failed')} · token ${c.token} · ${c.error?.message ?? c.problems.join('; ')}`,
    );
  }
  lines.push('');
  return lines;
}

/** What Meta's account webhooks said last: quality, messaging limit, restriction, coexistence. */
function accountLines(ctx: Context, i: IntegrationStatus): string[] {
  const a = i.account;
  if (!a || a.updatedAt === null) return [];
  const s = ctx.out.style;
  const lines = [`  Account        quality ${a.qualityRating ?? 'unknown'} · messaging limit ${a.messagingLimit ?? 'unknown'} (webhooks, ${a.updatedAt})`];
  if (a.restriction) lines.push(`  Restriction    ${s.red(a.restriction)}`);
  if (a.coexistence) lines.push(`  Coexistence    also on the WhatsApp Business app: ${a.sendRate} messages/s (the default send rate)`);
  return lines;
}
