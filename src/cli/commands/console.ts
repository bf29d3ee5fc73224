import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from '../context.js';
import type { Options } from '../declare.js';
import type { consoleCommand } from './index.js';

/**
 * `lumen console`: the running relay's console URL (with its token), opened in the default browser on a terminal
 * (`$BROWSER` first, as gh and git do), printed otherwise: with --no-open, --json, when stdout is not a terminal,
 * or when no relay runs (then the URL is where it will be at the default port).
 */
export async function run(ctx: Context, options: Options<typeof consoleCommand>): Promise<void> {
  const { runningRelay } = await import('../../relay/state-file.js');
  const { consoleToken, consoleUrl } = await import('../../relay/server.js');
  const relay = await runningRelay(join(ctx.paths.dataDir, 'relay.json'));
  const url = consoleUrl(relay?.url ?? 'http://127.0.0.1:8787', await consoleToken(await ctx.secrets()));
  if (!relay) ctx.out.warn('No relay is running for this LUMEN_HOME: start one with `lumen relay start`; the console will be at the URL below.');
  const open = relay !== undefined && options.open && !ctx.globals.json && Boolean(process.stdout.isTTY);
  const opened = open ? await openBrowser(handOff(url, ctx.paths.dataDir), ctx.env) : false;
  ctx.out.result({ url, running: relay !== undefined, opened }, () => (opened ? [`Opened ${url}`] : [url]));
}

/**
 * A page in LUMEN_HOME (0600) that takes the browser on to the console's URL: the browser is started with the page's
 * file URL, so the token never shows in its command line, which every user of the machine can read (`ps`).
 */
function handOff(url: string, dataDir: string): string {
  const file = join(dataDir, 'console-open.html');
  const attribute = url.replaceAll('&', '&amp;').replaceAll('"', '&quot;');
  writeFileSync(
    file,
    `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${attribute}"><title>lumen console</title>` +
      `<p>Opening the <a href="${attribute}">lumen console</a>…</p>\n`,
    { mode: 0o600 },
  );
  chmodSync(file, 0o600);
  // (A quote in LUMEN_HOME's path is escaped too: the URL may be handed to `sh -c` in quotes.)
  return pathToFileURL(file).href.replaceAll("'", '%27');
}

/** Starts the browser on `url` without waiting for it; false when none could be started. */
function openBrowser(url: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const browser = env.BROWSER?.split(':')[0]?.trim();
  const [command, args]: [string, string[]] = browser
    ? browser.includes('%s')
      ? // The URL has no quote of its own: quoted, the shell takes it as one word.
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
