/**
 * A running relay while the world changes under it: the number is rotated, connected again with a new app secret
 * or disconnected (the very next request sees it), and the disk fills up (503s, the relay stays up, recovers, and
 * loses nothing it acknowledged).
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { eventually } from '../helpers/async.js';
import { runLumen } from '../helpers/cli.js';
import { graphEnv, makeHome, withDb, type LumenHome } from '../helpers/home.js';
import { connectNumber, killAllRelays, postSigned, request, startForwardTarget, startRelay, type ForwardTarget } from '../helpers/relay.js';
import { textDelivery } from '../helpers/webhooks.js';

let sandbox: SandboxHandle;
const homes: LumenHome[] = [];
const targets: ForwardTarget[] = [];
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});
afterEach(async () => {
  await killAllRelays();
  await Promise.all(targets.splice(0).map((t) => t.close()));
  for (const home of homes.splice(0)) home.cleanup();
});

let serial = 0;
const message = () => textDelivery(sandbox.phoneNumberId, { wamid: `wamid.LIVE${serial++}x${Date.now()}=`, from: '15551230001', body: 'hi' });

describe('a running relay sees integration changes on the next request', () => {
  it('after rotate-token, connecting again with a new app secret, and disconnect', async () => {
    const home = makeHome({ sandbox });
    homes.push(home);
    const env = home.env;
    const connection = await connectNumber(env, sandbox.phoneNumberId, sandbox.wabaId);
    const relay = await startRelay(env);
    const url = `${relay.url}/webhooks/whatsapp/${connection.id}`;
    const handshake = (token: string) => request(`${url}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(token)}&hub.challenge=42`);
    expect((await handshake(connection.verifyToken)).status).toBe(200);

    // rotate-token: the old verify token is refused on the very next handshake
    const rotated = await runLumen(['whatsapp', 'rotate-token', '--json'], { env });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const newToken = JSON.parse(rotated.stdout).webhook.verifyToken as string;
    expect((await handshake(connection.verifyToken)).status).toBe(403);
    expect((await handshake(newToken)).status).toBe(200);

    // connected again with another app secret: the old one no longer verifies, the new one does
    const newSecret = 'b'.repeat(32);
    const again = await runLumen(['whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', sandbox.wabaId, '--yes', '--no-input', '--json'], {
      env: { ...env, WHATSAPP_APP_SECRET: newSecret },
    });
    expect(again.exitCode, again.stderr).toBe(0);
    expect((await postSigned(url, message(), sandbox.appSecret)).status).toBe(401);
    expect((await postSigned(url, message(), newSecret)).status).toBe(200);

    // disconnected: the next delivery finds no such number
    const gone = await runLumen(['whatsapp', 'disconnect', '--yes'], { env });
    expect(gone.exitCode, gone.stderr).toBe(0);
    expect((await postSigned(url, message(), newSecret)).status).toBe(404);
  });
});

/** A LUMEN_HOME on a 3 MiB tmpfs, where this machine lets the test mount one (root with CAP_SYS_ADMIN). */
function homeOnSmallDisk(): { home: LumenHome; unmount(): void } | string {
  const home = makeHome();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', home.dir], { stdio: 'ignore' });
  } catch {
    home.cleanup();
    return 'cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)';
  }
  return {
    home,
    unmount() {
      execFileSync('umount', ['-l', home.dir], { stdio: 'ignore' });
      home.cleanup();
    },
  };
}

const disk = process.platform === 'linux' ? homeOnSmallDisk() : 'tmpfs mounts are a Linux test';
const diskSkip = typeof disk === 'string' ? disk : undefined;
afterAll(() => {
  if (typeof disk !== 'string') disk.unmount();
});

describe('a full disk', () => {
  it.skipIf(diskSkip !== undefined)(`gets 503s, keeps the relay up, and loses nothing acknowledged${diskSkip ? ` (skipped: ${diskSkip})` : ''}`, { timeout: 240_000 }, async () => {
    if (typeof disk === 'string') return;
    // Given a relay with a forward target, its LUMEN_HOME on a 3 MiB disk
    const homeDir = disk.home.dir;
    const env = { ...disk.home.env, ...graphEnv(sandbox) };
    const connection = await connectNumber(env, sandbox.phoneNumberId, sandbox.wabaId);
    const target = await startForwardTarget();
    targets.push(target);
    const relay = await startRelay(env, ['--forward-to', target.url]);
    const url = `${relay.url}/webhooks/whatsapp/${connection.id}`;
    const acked: Buffer[] = [];
    const deliver = async () => {
      const body = message();
      const answer = await postSigned(url, body, sandbox.appSecret);
      if (answer.status === 200) acked.push(body);
      return answer;
    };
    expect((await deliver()).status).toBe(200);

    // When the disk fills up
    const filler = disk.home.path('filler');
    try {
      writeFileSync(filler, Buffer.alloc(4 * 1024 * 1024));
    } catch {
      // ENOSPC: the disk is full now (what was written stays)
    }
    // Then deliveries are refused with 503 (Meta retries them) and the relay stays up
    let refused;
    for (let i = 0; i < 200; i += 1) {
      const answer = await deliver();
      if (answer.status === 503) {
        refused = answer;
        break;
      }
      expect(answer.status).toBe(200); // room was left in the log: stored
    }
    expect(refused?.status).toBe(503);
    expect(refused?.json.error.code).toBe('unavailable');
    expect((await request(`${relay.url}/healthz`)).status).toBe(200);
    await relay.waitForEvent((e) => e.event === 'error' && /disk holding LUMEN_HOME is full/.test(String(e.message)));

    // When space is freed, it recovers by itself: new deliveries are stored and every acknowledged one is forwarded
    // (the dispatcher backs off while the store fails, up to a minute: the wait is a safety net beyond that)
    rmSync(filler, { force: true });
    expect((await deliver()).status).toBe(200);
    const wamids = acked.map((body) => JSON.parse(body.toString()).entry[0].changes[0].value.messages[0].id as string);
    const forwarded = () => new Set(target.accepted().map((r) => JSON.parse(r.body).wamid as string));
    await eventually(() => expect(wamids.filter((w) => !forwarded().has(w))).toEqual([]), 150_000);
    const stored = withDb(homeDir, (db) => db.prepare('SELECT wamid FROM interactions').all() as Array<{ wamid: string }>);
    expect(new Set(stored.map((r) => r.wamid))).toEqual(new Set(wamids));
    await relay.stop();
  });
});
