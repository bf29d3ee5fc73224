import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { UsageError } from '../../../errors.js';
import { parsePort } from '../../flag-values.js';
import { listenError, waitForShutdownSignal } from '../../serve.js';
import type { start } from './index.js';
import { join } from 'node:path';

function isWebhookUrl(value: string): boolean {
  if (/[\s<>]/.test(value)) return false;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

export async function run(ctx: Context, options: Options<typeof start>): Promise<void> {
  const port = parsePort(options.port);
  const { startSandbox } = await import('../../../sandbox/server.js');
  const log = ctx.globals.json
    ? (line: string) => ctx.out.event({ event: 'request', line })
    : (line: string) => ctx.out.info(ctx.out.style.dim(line));
  if (options.webhookUrl !== undefined && !isWebhookUrl(options.webhookUrl)) {
    throw new UsageError(
      `--webhook-url must be a full http(s) URL; got "${options.webhookUrl}".`,
      '`lumen relay start --public-url http://127.0.0.1:8787` registers the relay with a running sandbox by itself.',
    );
  }
  if (options.appSecret !== undefined && !/^[0-9a-f]{32}$/i.test(options.appSecret)) {
    throw new UsageError('--app-secret must be 32 hexadecimal characters, like a Meta app secret.');
  }
  const sandbox = await startSandbox({
    port,
    host: options.host,
    log,
    // Like Meta, it remembers where webhooks go (and a relay's registration) across restarts.
    stateFile: join(ctx.paths.dataDir, 'sandbox.json'),
    ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
    ...(options.appSecret ? { appSecret: options.appSecret } : {}),
  }).catch((error: unknown) => {
    throw listenError(error, options.host, port);
  });

  const info = {
    event: 'listening',
    url: sandbox.url,
    graphUrl: sandbox.url,
    webhookUrl: sandbox.webhookTarget() ?? null,
    phoneNumberId: sandbox.phoneNumberId,
    wabaId: sandbox.wabaId,
    // Fixed, sandbox-only credentials: they unlock nothing but this local emulator.
    accessToken: sandbox.accessToken,
    appSecret: sandbox.appSecret,
  };
  if (ctx.globals.json) {
    ctx.out.event(info);
  } else {
    const s = ctx.out.style;
    ctx.out.print(`${s.green('Sandbox Cloud API')} listening on ${s.bold(sandbox.url)} (a local stand-in for graph.facebook.com)`);
    ctx.out.print('');
    ctx.out.print('In another terminal, point lumen at it and connect its number (sandbox-only credentials):');
    ctx.out.print(`  export LUMEN_GRAPH_URL=${sandbox.url}`);
    ctx.out.print(`  export WHATSAPP_ACCESS_TOKEN=${sandbox.accessToken}`);
    ctx.out.print(`  export WHATSAPP_APP_SECRET=${sandbox.appSecret}`);
    ctx.out.print(`  lumen whatsapp connect --phone-number-id ${sandbox.phoneNumberId} --waba-id ${sandbox.wabaId}`);
    ctx.out.print('');
    ctx.out.print('Fault injection: POST /_sandbox/faults {"to":"15551234567","code":131047}; sends: GET /_sandbox/sent');
    const target = sandbox.webhookTarget();
    ctx.out.print(
      target
        ? `Webhooks go to ${target} (statuses after each send; POST /_sandbox/inbound {"from":"15551234567","text":"hi"} for a message).`
        : 'Webhooks go where `lumen relay start --public-url http://127.0.0.1:8787` registers its Callback URL (or --webhook-url).',
    );
    ctx.out.print('Press Ctrl-C to stop.');
  }
  const stopSignal = waitForShutdownSignal();
  try {
    await stopSignal;
    await sandbox.close();
  } finally {
    stopSignal.dispose();
  }
  if (!ctx.globals.json) ctx.out.info('Sandbox stopped.');
}
