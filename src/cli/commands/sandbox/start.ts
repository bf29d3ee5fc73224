import type { Context } from '../../context.js';
import { listenError, parsePort, waitForShutdownSignal } from '../../parse.js';

interface SandboxStartOptions {
  port: string;
  host: string;
}

export async function run(ctx: Context, options: SandboxStartOptions): Promise<void> {
  const port = parsePort(options.port);
  const { startSandbox } = await import('../../../sandbox/server.js');
  const log = ctx.globals.json
    ? (line: string) => ctx.out.event({ event: 'request', line })
    : (line: string) => ctx.out.info(ctx.out.style.dim(line));
  const sandbox = await startSandbox({ port, host: options.host, log }).catch((error: unknown) => {
    throw listenError(error, options.host, port);
  });

  const info = {
    event: 'listening',
    url: sandbox.url,
    graphUrl: sandbox.url,
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
    ctx.out.print('Press Ctrl-C to stop.');
  }
  await waitForShutdownSignal();
  await sandbox.close();
  if (!ctx.globals.json) ctx.out.info('Sandbox stopped.');
}
