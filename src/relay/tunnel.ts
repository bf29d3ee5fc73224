import { UserError } from '../errors.js';

export type TunnelProvider = 'cloudflared' | 'ngrok';

export interface Tunnel {
  provider: TunnelProvider;
  url: string;
  stop(): Promise<void>;
}

const INSTALL_HINTS: Record<TunnelProvider, string> = {
  cloudflared: 'Install cloudflared (https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/), or run your own tunnel and pass --public-url.',
  ngrok: 'Install ngrok and run `ngrok config add-authtoken …` once (https://ngrok.com/download), or pass --public-url.',
};

/** The public https URL in one line of the tool's output, if there is one. */
export function findTunnelUrl(provider: TunnelProvider, line: string): string | undefined {
  if (provider === 'cloudflared') return /https:\/\/[a-z0-9-]+\.trycloudflare\.com/i.exec(line)?.[0];
  // ngrok --log-format json: {"msg":"started tunnel", "url":"https://….ngrok-free.app", …}
  try {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (typeof entry.url === 'string' && entry.url.startsWith('https://')) return entry.url;
  } catch {
    // not JSON: fall through to the plain form
  }
  return /https:\/\/[a-z0-9.-]+\.ngrok(?:-free)?\.(?:app|io|dev)/i.exec(line)?.[0];
}

/** Starts cloudflared or ngrok towards the local relay and waits for its public URL. */
export async function startTunnel(provider: TunnelProvider, localPort: number, timeoutMs = 30_000): Promise<Tunnel> {
  const { execa } = await import('execa');
  const args =
    provider === 'cloudflared'
      ? ['tunnel', '--no-autoupdate', '--url', `http://127.0.0.1:${localPort}`]
      : ['http', String(localPort), '--log', 'stdout', '--log-format', 'json'];
  const child = execa(provider, args, { reject: false, stdin: 'ignore', buffer: false, cleanup: true });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(failure(`${provider} printed no public URL within ${timeoutMs / 1000} s.`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-8192);
      for (const line of output.split('\n')) {
        const found = findTunnelUrl(provider, line);
        if (found) {
          clearTimeout(timer);
          resolve(found);
          return;
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT' ? failure(`${provider} is not installed (not found on PATH).`) : error);
    });
    void child.then((result) => {
      clearTimeout(timer);
      if ((result as { failed?: boolean; code?: string }).code === 'ENOENT') {
        reject(failure(`${provider} is not installed (not found on PATH).`));
      } else {
        const last = output.trim().split('\n').at(-1) ?? '';
        reject(failure(`${provider} exited before printing a public URL${last ? `: ${last.slice(0, 200)}` : '.'}`));
      }
    });
  }).catch((error: unknown) => {
    child.kill();
    throw error;
  });
  return {
    provider,
    url,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([child.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };

  function failure(message: string) {
    return new UserError(message, { code: 'tunnel_failed', hint: INSTALL_HINTS[provider] });
  }
}
