import type { Context } from '../../context.js';
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

interface ConnectOptions {
  phoneNumberId?: string;
  wabaId?: string;
  label?: string;
  publicUrl?: string;
  subscribe: boolean;
  yes?: boolean;
}

export async function run(ctx: Context, options: ConnectOptions): Promise<void> {
  const { prompter, env } = ctx;

  // Every value: flag, then environment, then a prompt; each checked before anything is sent to Meta.
  async function value(
    what: string,
    given: string | undefined,
    source: { flag?: string; env: string },
    check: (v: string) => string | true,
    secret = false,
  ): Promise<string> {
    const provided = given ?? env[source.env];
    if (provided !== undefined && provided.trim() !== '') {
      ensureValid(check(provided));
      return provided.trim();
    }
    if (!prompter.canPrompt) {
      throw missingInput(what, secret ? { env: source.env } : source);
    }
    const ask = secret ? prompter.password : prompter.input;
    const answer = await ask({ message: `${what[0]!.toUpperCase()}${what.slice(1)}:`, validate: (v) => check(v) });
    return answer.trim();
  }

  const phoneNumberId = await value(
    'phone number ID',
    options.phoneNumberId,
    { flag: '--phone-number-id', env: 'WHATSAPP_PHONE_NUMBER_ID' },
    (v) => checkGraphId(v, 'Phone number ID', '--phone-number-id'),
  );
  const wabaId = await value(
    'WhatsApp Business Account ID (WABA ID)',
    options.wabaId,
    { flag: '--waba-id', env: 'WHATSAPP_WABA_ID' },
    (v) => checkGraphId(v, 'WABA ID', '--waba-id'),
  );
  const accessToken = await value(
    'access token (System User)',
    undefined,
    { env: 'WHATSAPP_ACCESS_TOKEN' },
    checkAccessToken,
    true,
  );
  const appSecret = await value('app secret', undefined, { env: 'WHATSAPP_APP_SECRET' }, checkAppSecret, true);
  const publicUrl = options.publicUrl ?? ctx.config().publicUrl;
  if (publicUrl !== undefined) ensureValid(checkPublicUrl(publicUrl));

  const workspace = await ctx.workspace();
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
  ctx.out.result(outcome.result, () => render(ctx, outcome));
}

function render(ctx: Context, outcome: ConnectOutcome): string[] {
  const { result } = outcome;
  const s = ctx.out.style;
  const lines = [
    '',
    `${outcome.updated ? 'Updated' : 'Connected'} ${s.bold(result.label)} as ${s.cyan(result.id)} (workspace ${result.workspace}).`,
    '',
    'Now set up the webhook in Meta\'s App Dashboard → WhatsApp → Configuration → Edit:',
  ];
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
