import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTunnelUrl, startTunnel } from '../../src/relay/tunnel.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { BIN, lumen, makeHome } from '../helpers/cli.js';

// cloudflared and ngrok cannot run here (no network): stand-ins on PATH print what the real tools print.
let bin: string;
const originalPath = process.env.PATH;
beforeAll(() => {
  bin = mkdtempSync(join(tmpdir(), 'lumen-fake-tunnels-'));
  writeFileSync(
    join(bin, 'cloudflared'),
    '#!/bin/sh\necho "2026-11-21T00:00:00Z INF Requesting new quick Tunnel on trycloudflare.com..." >&2\n' +
      'echo "2026-11-21T00:00:01Z INF |  https://calm-river-test.trycloudflare.com  |" >&2\nexec sleep 60\n',
  );
  writeFileSync(
    join(bin, 'ngrok'),
    '#!/bin/sh\necho \'{"lvl":"info","msg":"started tunnel","name":"command_line","addr":"http://localhost:\'"$2"\'","url":"https://abc123.ngrok-free.app"}\'\nexec sleep 60\n',
  );
  for (const name of ['cloudflared', 'ngrok']) chmodSync(join(bin, name), 0o755);
});
afterAll(() => {
  process.env.PATH = originalPath;
  rmSync(bin, { recursive: true, force: true });
});

describe('tunnels', () => {
  it('finds the public URL in each tool’s output', () => {
    expect(findTunnelUrl('cloudflared', 'INF |  https://a-b.trycloudflare.com  |')).toBe('https://a-b.trycloudflare.com');
    expect(findTunnelUrl('ngrok', '{"msg":"started tunnel","url":"https://x.ngrok-free.app"}')).toBe('https://x.ngrok-free.app');
    expect(findTunnelUrl('cloudflared', 'INF Starting metrics server')).toBeUndefined();
  });

  it('starts cloudflared and ngrok and stops them', async () => {
    process.env.PATH = `${bin}:${originalPath}`;
    const cloudflared = await startTunnel('cloudflared', 8787);
    expect(cloudflared.url).toBe('https://calm-river-test.trycloudflare.com');
    await cloudflared.stop();
    const ngrok = await startTunnel('ngrok', 8787);
    expect(ngrok.url).toBe('https://abc123.ngrok-free.app');
    await ngrok.stop();
  });

  it('says so when the tool is not installed', async () => {
    process.env.PATH = '/nonexistent';
    await expect(startTunnel('cloudflared', 8787)).rejects.toMatchObject({
      code: 'tunnel_failed',
      message: 'cloudflared is not installed (not found on PATH).',
    });
    process.env.PATH = originalPath;
  });
});

describe('lumen relay start --tunnel', () => {
  let sandbox: SandboxHandle;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(() => sandbox.close());

  it('prints the full Callback URL from the tunnel, and a clear error without the tool', async () => {
    const home = makeHome();
    const env = {
      ...home.env,
      LUMEN_GRAPH_URL: sandbox.url,
      WHATSAPP_ACCESS_TOKEN: sandbox.accessToken,
      WHATSAPP_APP_SECRET: sandbox.appSecret,
    };
    try {
      const connected = await lumen(
        ['whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', sandbox.wabaId, '--no-input', '--json'],
        { env },
      );
      const id = JSON.parse(connected.stdout).id as string;

      const relay = execa('node', [BIN, 'relay', 'start', '--port', '0', '--tunnel', 'cloudflared', '--json'], {
        env: { ...env, PATH: `${bin}:${env.PATH}` },
        extendEnv: false,
        reject: false,
      });
      const lines: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no callback_url: ${lines.join('\n')}`)), 15_000);
        relay.stdout!.on('data', (chunk: Buffer) => {
          lines.push(...chunk.toString().trim().split('\n'));
          if (lines.some((l) => l.includes('callback_url'))) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      relay.kill('SIGTERM');
      const result = await relay;
      expect(result.exitCode).toBe(0);
      const events = lines.map((l) => JSON.parse(l));
      expect(events).toContainEqual({ event: 'tunnel', provider: 'cloudflared', url: 'https://calm-river-test.trycloudflare.com' });
      expect(events).toContainEqual(
        expect.objectContaining({ event: 'callback_url', url: `https://calm-river-test.trycloudflare.com/webhooks/whatsapp/${id}` }),
      );

      const missing = await lumen(['relay', 'start', '--port', '0', '--tunnel', 'ngrok'], {
        env: { ...env, PATH: '/usr/bin:/bin' },
      });
      expect(missing.exitCode).toBe(1);
      expect(missing.stderr).toContain('ngrok is not installed');
      expect(missing.stderr).toContain('Hint:');
    } finally {
      home.cleanup();
    }
  });
});
