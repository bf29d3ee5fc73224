import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTunnelUrl, startTunnel } from '../../src/relay/tunnel.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { lumen } from '../helpers/cli.js';
import { makeHome, type LumenHome } from '../helpers/home.js';
import { connectNumber, killAllRelays, startRelay } from '../helpers/relay.js';

// cloudflared and ngrok cannot run here (no network): stand-ins on PATH print what the real tools print.
let tools: LumenHome;
let bin: string;
const originalPath = process.env.PATH;
beforeAll(() => {
  tools = makeHome();
  bin = tools.path('bin');
  mkdirSync(bin);
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
afterAll(async () => {
  process.env.PATH = originalPath;
  await killAllRelays();
  tools.cleanup();
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
    const home = makeHome({ sandbox });
    const env = home.env;
    try {
      const { id } = await connectNumber(env, sandbox.phoneNumberId, sandbox.wabaId);

      const relay = await startRelay({ ...env, PATH: `${bin}:${env.PATH}` }, ['--tunnel', 'cloudflared']);
      await relay.waitForEvent((e) => e.event === 'callback_url');
      expect(await relay.stop()).toEqual({ exitCode: 0, signal: undefined });
      expect(relay.events).toContainEqual({ event: 'tunnel', provider: 'cloudflared', url: 'https://calm-river-test.trycloudflare.com' });
      expect(relay.events).toContainEqual(
        expect.objectContaining({ event: 'callback_url', url: `https://calm-river-test.trycloudflare.com/webhooks/whatsapp/${id}` }),
      );
      expect(relay.events.some((e) => e.event === '__not_json__')).toBe(false);

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
