/**
 * What only the built CLI shows about the webhook wiring: the relay registering its Callback URL at start, what
 * `whatsapp status` and `doctor` print and exit with, ✓ only for work that succeeded, and the --json contract.
 */
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { lumen } from '../helpers/cli.js';
import { makeHome, type LumenHome } from '../helpers/home.js';
import { connectNumber, freePort, killAllRelays, startRelay } from '../helpers/relay.js';

let sandbox: SandboxHandle;
let home: LumenHome;

beforeAll(async () => {
  sandbox = await startSandbox({ webhookDelayMs: 5 });
});
afterAll(() => sandbox.close());
beforeEach(() => {
  sandbox.reset();
  sandbox.setWebhookUrl(undefined);
  home = makeHome({ sandbox });
});
afterEach(async () => {
  await killAllRelays();
  home.cleanup();
});

const connectArgs = () => ['whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', sandbox.wabaId, '--label', 'Care line', '--no-input'];

describe('lumen relay start with a public URL', () => {
  it('registers the Callback URL once it listens and says Meta verified it; status then shows Meta sends here', async () => {
    const { id } = await connectNumber(home.env, sandbox.phoneNumberId, sandbox.wabaId);
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const relay = await startRelay(home.env, ['--port', String(port), '--public-url', publicUrl]);
    const registration = await relay.waitForEvent((e) => e.event === 'registration');
    expect(registration).toEqual({
      event: 'registration',
      integrationId: id,
      label: 'Care line',
      url: `${publicUrl}/webhooks/whatsapp/${id}`,
      scope: 'phone',
      ok: true,
    });
    expect(relay.events.findIndex((e) => e.event === 'handshake' && e.ok)).toBeGreaterThan(0);
    expect(sandbox.webhookTarget()).toBe(`${publicUrl}/webhooks/whatsapp/${id}`);

    const status = await lumen(['whatsapp', 'status'], { env: home.env });
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain(`Meta sends to  ${publicUrl}/webhooks/whatsapp/${id} (the number's override) ✓ this relay`);
    expect(await relay.stop()).toEqual({ exitCode: 0, signal: undefined });
    // With no relay running here (as on another host of a shared database), it is the URL the relay registered
    const after = await lumen(['whatsapp', 'status', '--json'], { env: home.env });
    expect(JSON.parse(after.stdout).integrations[0].webhook.meta).toMatchObject({ pointsHere: true, expectedFrom: 'registered' });
    const doctor = await lumen(['doctor'], { env: home.env });
    expect(doctor.stdout).toContain(`${publicUrl}/webhooks/whatsapp/${id} (lumen's registered URL)`);
  });

  it('refuses a public URL that is http on a public host, and a --callback-scope that is not phone or waba', async () => {
    await connectNumber(home.env, sandbox.phoneNumberId, sandbox.wabaId);
    const http = await lumen(['relay', 'start', '--port', '0', '--public-url', 'http://relay.example.dev'], { env: home.env });
    expect(http.exitCode).toBe(2);
    expect(http.stderr).toContain('must use https://');
    const scope = await lumen(['relay', 'start', '--port', '0', '--public-url', 'https://relay.example.dev', '--callback-scope', 'app'], { env: home.env });
    expect(scope.exitCode).toBe(2);
    expect(scope.stderr).toContain('--callback-scope must be phone or waba');
  });
});

describe('whatsapp status and doctor', () => {
  it('name a Callback URL that points elsewhere; doctor exits 1 with the fix, --json gives every check', async () => {
    await lumen([...connectArgs(), '--public-url', 'https://relay.example.dev'], { env: home.env });
    // Given Meta delivers to another server (the app's Callback URL set in the dashboard)
    sandbox.setWebhookUrl('http://127.0.0.1:9/somebody-else');

    const status = await lumen(['whatsapp', 'status'], { env: home.env });
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain("Meta sends to  http://127.0.0.1:9/somebody-else (the app's Callback URL)");
    expect(status.stdout).toContain("not lumen's registered URL: deliveries go somewhere else");

    const human = await lumen(['doctor'], { env: home.env });
    expect(human.exitCode).toBe(1);
    expect(human.stdout).toMatch(/✗ Care line: Meta's Callback URL: Meta delivers to http:\/\/127\.0\.0\.1:9\/somebody-else, not to https:\/\/relay\.example\.dev\/webhooks\/whatsapp\/wa_/);
    expect(human.stdout).toContain('fix: Restart the relay with --public-url');
    expect(human.stdout).toContain('✓ Care line: Access token: valid');
    expect(human.stdout).toMatch(/\d+ checks failed\./);

    const json = await lumen(['doctor', '--json'], { env: home.env });
    expect(json.exitCode).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.checks.map((c: { id: string }) => c.id)).toEqual([
      'node', 'home', 'database', 'secrets', 'clock', 'token', 'number', 'subscription', 'callback', 'templates', 'relay', 'tunnel',
    ]);
    expect(report.checks.find((c: { id: string }) => c.id === 'callback')).toMatchObject({ status: 'fail', integration: 'Care line' });
  });

  it("an app no longer subscribed fails doctor with a fix that runs as written (the number's ids, no prompt)", async () => {
    await lumen(connectArgs(), { env: home.env });
    const unsubscribed = await fetch(`${sandbox.url}/v25.0/${sandbox.wabaId}/subscribed_apps`, { method: 'DELETE', headers: { authorization: `Bearer ${sandbox.accessToken}` } });
    expect(unsubscribed.status).toBe(200);
    const doctor = await lumen(['doctor', '--json'], { env: home.env });
    const subscription = (JSON.parse(doctor.stdout).checks as Array<{ id: string; status: string; fix: string }>).find((c) => c.id === 'subscription')!;
    expect(subscription.status).toBe('fail');
    expect(subscription.fix).toBe(`Run \`lumen whatsapp connect --phone-number-id ${sandbox.phoneNumberId} --waba-id ${sandbox.wabaId} --yes\` (without --no-subscribe).`);
  });

  it('a secrets file the key does not open fails the secret store check, with the fix for that, not a new token', async () => {
    // Given secrets written under one passphrase, read with another
    rmSync(home.path('secrets.key'), { force: true });
    await lumen(connectArgs(), { env: { ...home.env, LUMEN_MASTER_KEY: 'the passphrase it was written with' } });
    const doctor = await lumen(['doctor', '--json'], { env: { ...home.env, LUMEN_MASTER_KEY: 'not the passphrase it was written with' } });
    expect(doctor.exitCode).toBe(1);
    const checks = JSON.parse(doctor.stdout).checks as Array<{ id: string; status: string; fix?: string }>;
    const secrets = checks.find((c) => c.id === 'secrets')!;
    expect(secrets).toMatchObject({ status: 'fail' });
    expect(secrets.fix).toMatch(/LUMEN_MASTER_KEY does not match the passphrase/);
    expect(checks.find((c) => c.id === 'token')).toMatchObject({ status: 'fail', fix: secrets.fix });
  });

  it('secrets rotate-key moves the encrypted file from its key file to a passphrase, and on to the next, in one write', async () => {
    await lumen(connectArgs(), { env: home.env });
    const file = home.path('secrets.enc.json');
    const before = readFileSync(file, 'utf8');
    // What doctor's secret store check says with these variables
    const status = async (extra: Record<string, string>) => {
      const doctor = await lumen(['doctor', '--json'], { env: { ...home.env, ...extra } });
      const check = (JSON.parse(doctor.stdout).checks as Array<{ id: string; status: string; detail: string }>).find((c) => c.id === 'secrets')!;
      return { exitCode: check.status === 'ok' ? 0 : 1, stderr: check.detail };
    };
    // Without a new passphrase, nothing is written
    const none = await lumen(['secrets', 'rotate-key'], { env: home.env });
    expect([none.exitCode, none.stderr.split('\n')[0]]).toEqual([2, 'Error: Set LUMEN_MASTER_KEY to the new passphrase: rotate-key re-encrypts the secrets file under it.']);
    // A previous passphrase for a file the key file wrote: told to unset it
    const keyFileWritten = await lumen(['secrets', 'rotate-key'], { env: { ...home.env, LUMEN_PREVIOUS_MASTER_KEY: 'never set', LUMEN_MASTER_KEY: 'first passphrase' } });
    expect(keyFileWritten.exitCode).toBe(1);
    expect(keyFileWritten.stderr).toContain('Hint: Unset LUMEN_PREVIOUS_MASTER_KEY: rotate-key then reads them with the key file. Nothing was changed.');
    expect(readFileSync(file, 'utf8')).toBe(before);
    // From the key file to a passphrase
    const first = await lumen(['secrets', 'rotate-key', '--json'], { env: { ...home.env, LUMEN_MASTER_KEY: 'first passphrase' } });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ file, from: 'key file', rotated: expect.any(Number), unchanged: 0 });
    expect(JSON.parse(first.stdout).rotated).toBeGreaterThanOrEqual(2);
    expect(readFileSync(file, 'utf8')).not.toBe(before);
    expect((await status({ LUMEN_MASTER_KEY: 'first passphrase' })).exitCode).toBe(0);
    expect((await status({})).stderr).toContain('protected by a passphrase');
    // The same rotation again changes nothing, and says so
    const again = await lumen(['secrets', 'rotate-key', '--json'], { env: { ...home.env, LUMEN_MASTER_KEY: 'first passphrase' } });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ file, from: null, rotated: 0, unchanged: JSON.parse(first.stdout).rotated });
    const written = readFileSync(file, 'utf8');
    // A wrong previous passphrase changes nothing, and the error names that variable (not LUMEN_MASTER_KEY)
    const wrong = await lumen(['secrets', 'rotate-key'], { env: { ...home.env, LUMEN_PREVIOUS_MASTER_KEY: 'not it', LUMEN_MASTER_KEY: 'second passphrase' } });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr.split('\n').slice(0, 2)).toEqual([
      `Error: LUMEN_PREVIOUS_MASTER_KEY does not open the secrets in ${file}: it is not the passphrase they were written with.`,
      'Hint: Set LUMEN_PREVIOUS_MASTER_KEY to the passphrase in use until now. Nothing was changed.',
    ]);
    // So does a new passphrase without the previous one
    const unset = await lumen(['secrets', 'rotate-key'], { env: { ...home.env, LUMEN_MASTER_KEY: 'second passphrase' } });
    expect(unset.exitCode).toBe(1);
    expect(unset.stderr).toContain('put it in LUMEN_PREVIOUS_MASTER_KEY (LUMEN_MASTER_KEY is the new one)');
    expect(readFileSync(file, 'utf8')).toBe(written);
    expect((await status({ LUMEN_MASTER_KEY: 'first passphrase' })).exitCode).toBe(0);
    // From one passphrase to the next
    const next = await lumen(['secrets', 'rotate-key'], { env: { ...home.env, LUMEN_PREVIOUS_MASTER_KEY: 'first passphrase', LUMEN_MASTER_KEY: 'second passphrase' } });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stdout).toMatch(/^Re-encrypted \d+ secrets in .*secrets\.enc\.json from the passphrase to LUMEN_MASTER_KEY\./);
    expect((await status({ LUMEN_MASTER_KEY: 'second passphrase' })).exitCode).toBe(0);
    expect((await status({ LUMEN_MASTER_KEY: 'first passphrase' })).exitCode).not.toBe(0);
    for (const secret of ['first passphrase', 'second passphrase']) expect(readFileSync(file, 'utf8')).not.toContain(secret);
  });

  it('a failed check gets ✗, never ✓: the Graph API unreachable, and the app not subscribed (connect --no-subscribe)', async () => {
    await lumen([...connectArgs(), '--no-subscribe'], { env: home.env });
    const down = `http://127.0.0.1:${await freePort()}`;

    const unreachable = await lumen(['whatsapp', 'status', '--check'], { env: { ...home.env, LUMEN_GRAPH_URL: down } });
    expect(unreachable.exitCode).toBe(1);
    expect(unreachable.stderr).not.toContain('✓');
    expect(unreachable.stderr).toContain('✗ Check failed');
    expect(unreachable.stdout).toContain('Check          failed');

    const unsubscribed = await lumen(['whatsapp', 'status', '--check'], { env: home.env });
    expect(unsubscribed.exitCode).toBe(1);
    expect(unsubscribed.stdout).not.toContain('Check          ok');
    expect(unsubscribed.stdout).toContain('Check          failed · token valid · app not subscribed to WABA');
    expect(unsubscribed.stderr).not.toContain('✓');
  });

  it('status --check --json is one document whatever failed (exit 1, nothing else on stdout)', async () => {
    await lumen([...connectArgs(), '--no-subscribe'], { env: home.env });
    const down = `http://127.0.0.1:${await freePort()}`;
    for (const env of [{ ...home.env, LUMEN_GRAPH_URL: down }, home.env]) {
      const result = await lumen(['whatsapp', 'status', '--check', '--json'], { env });
      expect(result.exitCode).toBe(1);
      const doc = JSON.parse(result.stdout);
      expect(Object.keys(doc)).toEqual(['workspace', 'integrations']);
      expect(doc.integrations[0].check.ok).toBe(false);
      expect(result.stderr).toBe('');
    }
  });
});

describe('the sandbox walk-through', () => {
  it('lumen sandbox start refuses a webhook URL that is not a URL, like the README placeholder', async () => {
    const result = await lumen(['sandbox', 'start', '--port', '0', '--webhook-url', 'http://127.0.0.1:8787/webhooks/whatsapp/<integration id>'], {
      env: home.env,
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--webhook-url must be a full http(s) URL');
    expect(result.stderr).toContain('lumen relay start --public-url');
  });
});
