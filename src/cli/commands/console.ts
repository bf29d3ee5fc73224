import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Context } from '../context.js';
import type { Options } from '../declare.js';
import type { consoleCommand } from './index.js';

/**
 * `lumen console`: the running relay's console, opened in the default browser on a terminal (`$BROWSER` first, as gh
 * and git do) with a one-time sign-in code; its URL with the token printed otherwise: with --no-open, --json, when
 * stdout is not a terminal, or when no relay runs (then the URL is where it will be at the default port).
 */
export async function run(ctx: Context, options: Options<typeof consoleCommand>): Promise<void> {
  const { runningRelay } = await import('../../relay/state-file.js');
  const { consoleToken, consoleUrl } = await import('../../relay/server.js');
  const relay = await runningRelay(join(ctx.paths.dataDir, 'relay.json'));
  const token = await consoleToken(await ctx.secrets());
  const url = consoleUrl(relay?.url ?? 'http://127.0.0.1:8787', token);
  if (!relay) ctx.out.warn('No relay is running for this LUMEN_HOME: start one with `lumen relay start`; the console will be at the URL below.');
  const open = relay !== undefined && options.open && !ctx.globals.json && Boolean(process.stdout.isTTY);
  // The browser is given a one-time code, not the token: it keeps its URL in its command line, which any user of
  // the machine can read (`ps`).
  const { signInCode } = await import('../../relay/console/sign-in.js');
  const page = url.split('?')[0]!;
  const opened = open ? await openBrowser(`${page}?code=${signInCode(token, ctx.now().getTime())}`, ctx.env) : false;
  if (open && !opened) ctx.out.warn(`Could not start ${ctx.env.BROWSER ? `the browser (BROWSER=${ctx.env.BROWSER})` : 'a browser'}: open the URL below.`);
  ctx.out.result({ url, running: relay !== undefined, opened }, () => (opened ? [`Opened ${page} (signed in with a one-time code).`] : [url]));
}

/** Starts the browser without waiting for it; false when none could be started. */
function openBrowser(url: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const browser = env.BROWSER?.split(':')[0]?.trim();
  const [command, args]: [string, string[]] = browser
    ? browser.includes('%s')
      ? // The URL has no quote of its own (the code is base64url): quoted, the shell takes it as one word.
        ['sh', ['-c', browser.replaceAll('%s', `'${url}'`)]]
      : [browser, [url]]
    : process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  return new Promise((resolve) => {
    const child = spawn(command, args, { detached: true, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
