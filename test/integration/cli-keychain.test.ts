import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { lumen, readTree } from '../helpers/cli.js';
import { makeHome, type LumenHome } from '../helpers/home.js';

// Only inside the throwaway keyring that scripts/with-keyring.sh starts (npm test does): never the user's own.
const inThrowawayKeyring = process.env.LUMEN_TEST_KEYRING === '1' && Boolean(process.env.DBUS_SESSION_BUS_ADDRESS);
const title = inThrowawayKeyring
  ? 'connect with the OS keychain (real Secret Service)'
  : 'connect with the OS keychain — skipped: run inside scripts/with-keyring.sh';
if (!inThrowawayKeyring) console.warn(title);

describe.skipIf(!inThrowawayKeyring)(title, () => {
  let sandbox: SandboxHandle;
  let home: LumenHome;
  let env: Record<string, string>;

  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(() => sandbox.close());
  beforeEach(() => {
    home = makeHome({
      sandbox,
      env: {
        DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS!,
        ...(process.env.XDG_RUNTIME_DIR ? { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR } : {}),
      },
    });
    env = { ...home.env };
    delete env.LUMEN_SECRET_STORE; // the default: probe the keychain
  });
  afterEach(() => home.cleanup());

  it('stores the secrets in the keychain by default, reads them back, and removes them on disconnect', async () => {
    const connected = await lumen(
      ['whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', sandbox.wabaId, '--no-input', '--json'],
      { env },
    );
    expect(connected.exitCode).toBe(0);
    expect(connected.stderr).not.toContain('keychain unavailable');
    expect(existsSync(join(home.dir, 'secrets.enc.json'))).toBe(false);
    for (const file of readTree(home.dir)) expect(file.text).not.toContain(sandbox.accessToken);

    const status = await lumen(['whatsapp', 'status', '--check', '--json'], { env });
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(status.stdout).integrations[0]).toMatchObject({ secretStore: 'keychain', check: { ok: true } });

    const disconnected = await lumen(['whatsapp', 'disconnect', '--yes'], { env });
    expect(disconnected.exitCode).toBe(0);
  });
});
