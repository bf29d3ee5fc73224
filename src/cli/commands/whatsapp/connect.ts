import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { CancelledError, missingInput, UsageError } from '../../../errors.js';
import { connectWhatsApp, type ConnectOutcome } from '../../../services/whatsapp/connect.js';
import { describeIntegration } from '../../../services/whatsapp/integrations.js';
import {
  checkAccessToken,
  checkAppSecret,
  checkGraphId,
  checkPublicUrl,
  ensureValid,
} from '../../../services/whatsapp/validate.js';
import { connect } from './index.js';
import { hasUnprintable } from '../../table.js';
import { join } from 'node:path';
import type { CallbackScope } from '../../../graph/webhooks.js';

export async function run(ctx: Context, options: Options<typeof connect>): Promise<void> {
  const { prompter, env } = ctx;

  // Every value: flag (or its env-var twin, read with the flags), then a prompt; each checked before anything is
  // sent to Meta. Secrets are never flags (shell history): they come from the environment or a masked prompt.
  async function value(
    what: string,
    given: string | undefined,
    source: { flag?: string; env?: string | undefined },
    check: (v: string) => string | true,
    secret = false,
  ): Promise<string> {
    if (given !== undefined && given.trim() !== '') {
      ensureValid(check(given));
      return given.trim();
    }
    if (!prompter.canPrompt) {
      throw missingInput(what, secret ? { env: source.env } : source);
    }
    const ask = secret ? prompter.password : prompter.input;
    const answer = await ask({ message: `${what[0]!.toUpperCase()}${what.slice(1)}:`, validate: (v) => check(v) });
    return answer.trim();
  }

  if (options.label !== undefined && hasUnprintable(options.label)) {
    throw new UsageError('--label holds a control character (or a bidirectional override), which would reach every terminal that prints it.', 'Give it in plain text.');
  }
  const { phoneNumberId: phoneFlag, wabaId: wabaFlag } = connect.flags;
  const phoneNumberId = await value(
    'phone number ID',
    options.phoneNumberId,
    { flag: phoneFlag.name, env: phoneFlag.env },
    (v) => checkGraphId(v, 'Phone number ID', phoneFlag.name),
  );
  const wabaId = await value(
    'WhatsApp Business Account ID (WABA ID)',
    options.wabaId,
    { flag: wabaFlag.name, env: wabaFlag.env },
    (v) => checkGraphId(v, 'WABA ID', wabaFlag.name),
  );
  const accessToken = await value(
    'access token (System User)',
    env.WHATSAPP_ACCESS_TOKEN,
    { env: 'WHATSAPP_ACCESS_TOKEN' },
    checkAccessToken,
    true,
  );
  const appSecret = await value('app secret', env.WHATSAPP_APP_SECRET, { env: 'WHATSAPP_APP_SECRET' }, checkAppSecret, true);
  const publicUrl = options.publicUrl ?? ctx.config().publicUrl;
  if (publicUrl !== undefined) ensureValid(checkPublicUrl(publicUrl));
  const scope = options.callbackScope;
  if (scope !== 'phone' && scope !== 'waba') throw new UsageError(`--callback-scope must be phone or waba; got "${scope}".`);

  const workspace = await ctx.workspace({ create: true });
  const deps = await serviceDeps(ctx);
  const existing = await deps.store.integrations.findByPhoneNumberId(workspace.id, phoneNumberId);
  if (existing && !options.yes) {
    if (!prompter.canPrompt) {
      throw new UsageError(
        `Phone number ${phoneNumberId} is already connected as ${existing.id} (${existing.label}).`,
        'Pass --yes to update that connection (same webhook URL, new secrets and verify token).',
      );
    }
    const update = await prompter.confirm({
      message: `${describeIntegration(existing)} is already connected. Update it (same webhook URL, new verify token)?`,
      default: true,
    });
    if (!update) throw new CancelledError('Nothing changed.');
  }

  const outcome = await connectWhatsApp(deps, {
    workspace,
    phoneNumberId,
    wabaId,
    label: options.label,
    publicUrl,
    subscribe: options.subscribe,
    existing,
    accessToken,
    appSecret,
  });
  if (publicUrl !== undefined) {
    // Meta runs the handshake against the public URL now: only a relay already running here can answer it.
    const { runningRelay } = await import('../../../relay/state-file.js');
    const relay = await runningRelay(join(ctx.paths.dataDir, 'relay.json'));
    if (relay) {
      const { registerWebhook } = await import('../../../services/whatsapp/webhook.js');
      outcome.result.webhook.registration = await ctx.out.step(
        'Registering the Callback URL with Meta',
        () => registerWebhook(deps, outcome.integration, { publicUrl, scope: scope as CallbackScope, verifyToken: outcome.verifyToken }),
        (r) => (r.ok ? 'Meta verified the Callback URL' : { failed: `Meta did not take the Callback URL: ${r.error?.message ?? 'refused'}` }),
      );
    } else {
      outcome.result.webhook.registration = null;
    }
  }
  ctx.out.result(outcome.result, () => render(ctx, outcome));
}

function render(ctx: Context, outcome: ConnectOutcome): string[] {
  const { result } = outcome;
  const s = ctx.out.style;
  const lines = [
    '',
    `${outcome.updated ? 'Updated' : 'Connected'} ${s.bold(result.label)} as ${s.cyan(result.id)} (workspace ${result.workspace}).`,
    '',
  ];
  const registration = result.webhook.registration;
  if (registration?.ok) {
    lines.push(
      `${s.green('✓')} Meta verified the Callback URL ${s.bold(registration.url)}: webhooks for this number go to the running relay.`,
      s.dim('(No dashboard step needed. The verify token below is the one Meta holds; lumen keeps only its hash.)'),
      `  Verify token   ${s.bold(result.webhook.verifyToken)}`,
    );
    return lines;
  }
  if (registration === null) {
    lines.push(
      `No relay is running here yet: \`lumen relay start --public-url ${result.webhook.url?.replace(/\/webhooks\/whatsapp\/.*$/, '')}\` registers the`,
      "Callback URL with Meta when it starts (no dashboard step). Or by hand, in Meta's App Dashboard → WhatsApp → Configuration:",
    );
  } else if (registration) {
    lines.push(`${s.red('✗')} Meta did not take the Callback URL: ${registration.error?.message ?? 'refused'}`);
    if (registration.error?.hint) lines.push(`  ${registration.error.hint}`);
    lines.push("Set it up by hand instead, in Meta's App Dashboard → WhatsApp → Configuration → Edit:");
  } else {
    lines.push("Set up the webhook: `lumen relay start --public-url …` (or --tunnel) registers it with Meta, or in Meta's App Dashboard → WhatsApp → Configuration → Edit:");
  }
  if (result.webhook.url) {
    lines.push(`  Callback URL   ${s.bold(result.webhook.url)}`);
  } else {
    lines.push(
      `  Callback URL   <your public relay URL>${result.webhook.path}`,
      '                 (start `lumen relay start` behind a tunnel, or pass --public-url, to get the full URL)',
    );
  }
  lines.push(
    `  Verify token   ${s.bold(result.webhook.verifyToken)}`,
    '  Click "Verify and save", then under Webhook fields subscribe to "messages".',
    '',
    s.yellow('This verify token is shown only this once; lumen keeps only a hash of it.'),
    'Lost it? `lumen whatsapp rotate-token` issues a new one.',
  );
  if (outcome.subscription === 'skipped') {
    lines.push(s.yellow('The app is not subscribed to the WABA (--no-subscribe): real messages will not arrive.'));
  }
  return lines;
}
