import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { countOccurrences, lumen, readTree, runLumen } from '../helpers/cli.js';
import { makeHome, withDb, type LumenHome } from '../helpers/home.js';

let sandbox: SandboxHandle;
let home: LumenHome;
let env: Record<string, string>;

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(() => {
  sandbox.reset();
  home = makeHome({ sandbox });
  env = home.env;
});
afterEach(() => home.cleanup());

const connectArgs = () => [
  'whatsapp',
  'connect',
  '--phone-number-id',
  sandbox.phoneNumberId,
  '--waba-id',
  sandbox.wabaId,
  '--label',
  'Care line',
  '--no-input',
  '--json',
];

/** `whatsapp connect` in process; `{ spawn: true }` runs the built CLI instead (for the keychain, which a process's own D-Bus address reaches). */
async function connect(extra: string[] = [], overrideEnv: Record<string, string> = env, how: { spawn?: boolean } = {}) {
  const run = how.spawn ? lumen : runLumen;
  const result = await run([...connectArgs(), ...extra], { env: overrideEnv });
  return { result, json: result.stdout ? JSON.parse(result.stdout) : undefined };
}

function integrationsIn(dir: string): Array<Record<string, unknown>> {
  return withDb(dir, (db) => db.prepare('SELECT * FROM integrations').all() as Array<Record<string, unknown>>);
}

describe('lumen whatsapp connect', () => {
  it('validates the number, subscribes the app, syncs every template page and prints the contract JSON', async () => {
    // Given a fresh sandbox (app not subscribed, templates spread over several pages)
    expect(sandbox.status().subscribed).toBe(false);
    // When the user connects non-interactively
    const { result, json } = await connect();
    // Then
    expect(result.exitCode).toBe(0);
    expect(json).toEqual({
      id: expect.stringMatching(/^wa_[0-9a-f]{32}$/),
      label: 'Care line',
      workspace: 'default',
      phone: {
        id: sandbox.phoneNumberId,
        displayPhoneNumber: '+1 555-010-4242',
        verifiedName: 'Lumen Sandbox',
        qualityRating: 'GREEN',
      },
      templates: { synced: sandbox.status().templates, approved: expect.any(Number) },
      webhook: {
        path: `/webhooks/whatsapp/${json.id}`,
        url: null,
        verifyToken: expect.stringMatching(/^lvt_[A-Za-z0-9_-]{43}$/),
      },
    });
    expect(json.templates.synced).toBeGreaterThan(4); // more than two pages of two
    expect(json.templates.approved).toBeLessThan(json.templates.synced);
    expect(sandbox.status().subscribed).toBe(true);
  });

  it('keeps secrets out of every output and file, and prints the verify token exactly once', async () => {
    const { result, json } = await connect();
    expect(result.exitCode).toBe(0);
    const token = json.webhook.verifyToken as string;
    const printed = result.stdout + result.stderr;
    expect(countOccurrences(printed, token)).toBe(1);

    const status = await runLumen(['whatsapp', 'status', '--check'], { env });
    const statusJson = await runLumen(['whatsapp', 'status', '--json'], { env });
    const list = await runLumen(['templates', 'list', '--json'], { env });
    const everything = [printed, status.stdout, status.stderr, statusJson.stdout, list.stdout].join('\n');
    expect(everything).not.toContain(sandbox.accessToken);
    expect(everything).not.toContain(sandbox.appSecret);
    expect(status.stdout + statusJson.stdout).not.toContain(token);

    const files = readTree(home.dir);
    expect(files.map((f) => f.path).some((p) => p.endsWith('lumen.db'))).toBe(true);
    for (const file of files) {
      expect(file.text, file.path).not.toContain(sandbox.accessToken);
      expect(file.text, file.path).not.toContain(sandbox.appSecret);
      expect(file.text, file.path).not.toContain(token);
    }
  });

  it('prints the full callback URL with --public-url and the dashboard steps for a human', async () => {
    const result = await runLumen(
      ['whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', sandbox.wabaId,
        '--public-url', 'https://care.example.dev/', '--no-input'],
      { env },
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/Callback URL\s+https:\/\/care\.example\.dev\/webhooks\/whatsapp\/wa_[0-9a-f]{32}\n/);
    expect(result.stdout).toMatch(/Verify token\s+lvt_/);
    expect(result.stdout).toContain('shown only this once');
    expect(result.stdout).toContain('Verify and save');
    expect(result.stderr).toContain('Subscribed the app to WABA');
    expect(result.stderr).toMatch(/\d+ templates synced/);
    expect(result.stdout).toContain('Connected Lumen Sandbox'); // default label: the verified name
  });

  it('updates the same integration when the number is connected again, only with --yes', async () => {
    const first = await connect();
    const again = await connect();
    expect(again.result.exitCode).toBe(2);
    expect(again.json.error.message).toContain('already connected');
    expect(again.json.error.hint).toContain('--yes');

    const updated = await connect(['--yes', '--label', 'Support']);
    expect(updated.result.exitCode).toBe(0);
    expect(updated.json.id).toBe(first.json.id);
    expect(updated.json.label).toBe('Support');
    expect(updated.json.webhook.verifyToken).not.toBe(first.json.webhook.verifyToken);
    const rows = integrationsIn(home.dir);
    expect(rows).toHaveLength(1);
    // The previous generation of secrets is gone from the encrypted file: only one pair remains.
    const secrets = JSON.parse(readTree(home.dir).find((f) => f.path.endsWith('secrets.enc.json'))!.text);
    expect(Object.keys(secrets.entries)).toHaveLength(2);
    expect(Object.keys(secrets.entries).every((k) => k.includes(String(rows[0]!.secret_ref)))).toBe(true);
  });

  it('skips the subscription with --no-subscribe and says so', async () => {
    const result = await runLumen([...connectArgs().filter((a) => a !== '--json'), '--no-subscribe'], { env });
    expect(result.exitCode).toBe(0);
    expect(sandbox.status().subscribed).toBe(false);
    expect(result.stderr + result.stdout).toMatch(/not subscribed/i);
  });
});

describe('connect with bad input changes nothing', () => {
  async function expectNothingWritten() {
    const files = readTree(home.dir).map((f) => f.path);
    if (files.some((p) => p.endsWith('lumen.db'))) expect(integrationsIn(home.dir)).toEqual([]);
    expect(files.some((p) => p.endsWith('secrets.enc.json'))).toBe(false);
  }

  it('a wrong token exits 4 with a hint about System User tokens', async () => {
    const { result } = await connect([], { ...env, WHATSAPP_ACCESS_TOKEN: 'EAAwrongwrongwrongwrongwrong123' });
    expect(result.exitCode).toBe(4);
    const error = JSON.parse(result.stdout).error;
    expect(error.code).toBe('auth_invalid_token');
    expect(error.hint).toContain('System User');
    expect(result.stdout).not.toContain('EAAwrongwrongwrongwrongwrong123');
    await expectNothingWritten();
  });

  it('an unknown phone number id says which id is wrong', async () => {
    const result = await runLumen(
      ['whatsapp', 'connect', '--phone-number-id', '999999999999', '--waba-id', sandbox.wabaId, '--no-input'],
      { env },
    );
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('Phone number ID 999999999999 was not found');
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    await expectNothingWritten();
  });

  it('an unknown WABA id says which id is wrong', async () => {
    const result = await runLumen(
      ['whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', '123456789', '--no-input'],
      { env },
    );
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('WABA ID 123456789 was not found');
    await expectNothingWritten();
  });

  it.each([
    [['--phone-number-id', '+1 555 010 4242'], /not the phone number itself/],
    [['--phone-number-id', 'abc'], /Phone number ID must be 5–20 digits/],
    [['--waba-id', '12'], /WABA ID must be 5–20 digits/],
    [['--label', 'evil\u001b[31mred'], /--label holds a control character/],
    [['--label', 'shop\u202egnp.exe'], /--label holds a control character \(or a bidirectional override\)/],
  ])('malformed %j is refused before any call (exit 2)', async (override, message) => {
    const args = connectArgs().filter((a) => a !== '--json');
    const flag = override[0]!;
    args[args.indexOf(flag) + 1] = override[1]!;
    const result = await runLumen(args, { env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(sandbox.status().subscribed).toBe(false); // Meta (the sandbox) was never asked
    await expectNothingWritten();
  });

  it('a malformed app secret is refused before any call', async () => {
    const { result } = await connect([], { ...env, WHATSAPP_APP_SECRET: 'not-hex' });
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stdout).error.message).toContain('32 hexadecimal');
  });

  it('--no-input with a value missing names the flag and the environment variable', async () => {
    const noSecret = { ...env };
    delete noSecret.WHATSAPP_APP_SECRET;
    const { result } = await connect([], noSecret);
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stdout).error.message).toContain('WHATSAPP_APP_SECRET');

    const noId = await runLumen(['whatsapp', 'connect', '--waba-id', sandbox.wabaId, '--no-input'], { env });
    expect(noId.exitCode).toBe(2);
    expect(noId.stderr).toContain('--phone-number-id');
    expect(noId.stderr).toContain('WHATSAPP_PHONE_NUMBER_ID');
  });

  it('an unreachable Graph API is one clear line, not a stack', async () => {
    const { result } = await connect([], { ...env, LUMEN_GRAPH_URL: 'http://127.0.0.1:9' });
    expect(result.exitCode).toBe(1);
    const error = JSON.parse(result.stdout).error;
    expect(error.code).toBe('graph_unreachable');
    expect(error.message).toContain('connection refused');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    await expectNothingWritten();
  });

  it('an unavailable keychain is a clear error when the keychain is required', async () => {
    const { result } = await connect([], {
      ...env,
      LUMEN_SECRET_STORE: 'keychain',
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/lumen-test-bus',
    }, { spawn: true });
    expect(result.exitCode).toBe(1);
    expect(JSON.parse(result.stdout).error.code).toBe('keychain_unavailable');
    expect(sandbox.status().subscribed).toBe(false); // stopped before Meta was asked for anything
    await expectNothingWritten();
  });

  it('a secret store setting that cannot work here stops it before Meta is asked for anything', async () => {
    const { result } = await connect([], { ...env, LUMEN_SECRET_STORE: 'database' });
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stdout).error.message).toMatch(/^LUMEN_SECRET_STORE=database keeps secrets in the PostgreSQL database, but lumen uses SQLite here\./);
    expect(sandbox.status().subscribed).toBe(false);
    await expectNothingWritten();
  });

  it('a corrupt database is reported, and left as it was', async () => {
    const garbage = 'not a database '.repeat(100);
    writeFileSync(join(home.dir, 'lumen.db'), garbage);
    const { result } = await connect();
    expect(result.exitCode).toBe(1);
    expect(JSON.parse(result.stdout).error.code).toBe('database_corrupt');
    expect(readTree(home.dir).find((f) => f.path.endsWith('lumen.db'))!.text).toBe(garbage);
  });

  it('a database from a newer lumen is refused', async () => {
    const db = new Database(join(home.dir, 'lumen.db'));
    db.pragma('user_version = 999');
    db.close();
    const { result } = await connect();
    expect(result.exitCode).toBe(1);
    expect(JSON.parse(result.stdout).error.code).toBe('database_too_new');
  });
});

describe('status, rotate-token, disconnect', () => {
  it('status shows the connection without the verify token; --check asks the Graph API', async () => {
    const { json } = await connect();
    const status = await runLumen(['whatsapp', 'status', '--check', '--json'], { env });
    expect(status.exitCode).toBe(0);
    const doc = JSON.parse(status.stdout);
    expect(doc.workspace).toBe('default');
    expect(doc.integrations).toHaveLength(1);
    expect(doc.integrations[0]).toMatchObject({
      id: json.id,
      label: 'Care line',
      webhook: { path: json.webhook.path, url: null },
      templates: { total: json.templates.synced, approved: json.templates.approved },
      check: { ok: true, token: 'valid', qualityRating: 'GREEN', templates: { total: json.templates.synced } },
    });
    expect(status.stdout).not.toContain(json.webhook.verifyToken);

    const human = await runLumen(['whatsapp', 'status'], { env });
    expect(human.stdout).toContain('Care line');
    expect(human.stdout).toContain('+1 555-010-4242');
  });

  it('status --check reports a revoked token with exit 4', async () => {
    await connect();
    // Given the token stops working at Meta (the sandbox now expects another one)
    const other = await startSandbox({ accessToken: 'EAAanotherTokenThatIsNotTheStoredOne1234' });
    try {
      const status = await runLumen(['whatsapp', 'status', '--check', '--json'], { env: { ...env, LUMEN_GRAPH_URL: other.url } });
      expect(status.exitCode).toBe(4);
      expect(JSON.parse(status.stdout).integrations[0].check).toMatchObject({ ok: false, token: 'invalid' });
    } finally {
      await other.close();
    }
  });

  it('status with nothing connected says how to connect', async () => {
    const status = await runLumen(['whatsapp', 'status'], { env });
    expect(status.exitCode).toBe(1);
    expect(status.stderr).toContain('No WhatsApp number is connected');
    expect(status.stderr).toContain('lumen whatsapp connect');
  });

  it('rotate-token prints a new token once and replaces the stored hash', async () => {
    const { json } = await connect();
    const before = integrationsIn(home.dir)[0]!.verify_token_hash;
    const rotated = await runLumen(['whatsapp', 'rotate-token', '--json'], { env });
    expect(rotated.exitCode).toBe(0);
    const doc = JSON.parse(rotated.stdout);
    expect(doc.id).toBe(json.id);
    expect(doc.webhook.verifyToken).toMatch(/^lvt_/);
    expect(doc.webhook.verifyToken).not.toBe(json.webhook.verifyToken);
    const after = integrationsIn(home.dir)[0]!.verify_token_hash;
    expect(after).not.toBe(before);
    expect(String(after)).not.toContain(doc.webhook.verifyToken);
  });

  it('disconnect needs --yes without a terminal, then removes the integration and its secrets', async () => {
    await connect();
    const refused = await runLumen(['whatsapp', 'disconnect'], { env });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('--yes');
    expect(integrationsIn(home.dir)).toHaveLength(1);

    const done = await runLumen(['whatsapp', 'disconnect', '--yes'], { env });
    expect(done.exitCode).toBe(0);
    expect(done.stdout).toContain("Meta's App Dashboard");
    expect(integrationsIn(home.dir)).toEqual([]);
    const secrets = JSON.parse(readTree(home.dir).find((f) => f.path.endsWith('secrets.enc.json'))!.text);
    expect(Object.keys(secrets.entries)).toEqual([]);
    const status = await runLumen(['whatsapp', 'status'], { env });
    expect(status.exitCode).toBe(1);
  });
});

describe('templates', () => {
  it('sync follows every page and reports what changed', async () => {
    await connect();
    sandbox.addTemplates([
      {
        id: '990000000000001',
        name: 'late_addition',
        language: 'en_US',
        status: 'APPROVED',
        category: 'UTILITY',
        parameter_format: 'POSITIONAL',
        components: [{ type: 'BODY', text: 'Hello {{1}}' }],
      },
    ]);
    const sync = await runLumen(['templates', 'sync', '--json'], { env });
    expect(sync.exitCode).toBe(0);
    expect(JSON.parse(sync.stdout)).toMatchObject({ added: 1, removed: 0, total: sandbox.status().templates });
  });

  it('list filters by status and shows parameters', async () => {
    await connect();
    const all = JSON.parse((await runLumen(['templates', 'list', '--json'], { env })).stdout);
    const approved = JSON.parse((await runLumen(['templates', 'list', '--status', 'APPROVED', '--json'], { env })).stdout);
    expect(all.length).toBe(sandbox.status().templates);
    expect(approved.length).toBeLessThan(all.length);
    expect(approved.every((t: { status: string }) => t.status === 'APPROVED')).toBe(true);
    expect(all.find((t: { name: string }) => t.name === 'welcome').parameters).toEqual(['body:first_name', 'body:shop']);

    const table = await runLumen(['templates', 'list'], { env });
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+LANGUAGE\s+STATUS\s+CATEGORY\s+QUALITY\s+PARAMETERS$/);
  });

  it('show prints components and the parameters a send must supply', async () => {
    await connect();
    const ambiguous = await runLumen(['templates', 'show', 'order_update'], { env });
    expect(ambiguous.exitCode).toBe(2);
    expect(ambiguous.stderr).toContain('--lang');

    const shown = await runLumen(['templates', 'show', 'order_update', '--lang', 'en_US', '--json'], { env });
    expect(shown.exitCode).toBe(0);
    const doc = JSON.parse(shown.stdout);
    expect(doc.parameters.map((p: { component: string; name: string }) => `${p.component}:${p.name}`)).toEqual([
      'header:1',
      'body:1',
      'body:2',
      'button:1',
    ]);
    // A URL button's parameter is only the URL's suffix: the example suggests that, not the whole link
    expect(doc.parameters.at(-1)).toMatchObject({ subType: 'url', example: 'ABC' });
    const orderHuman = await lumen(['templates', 'show', 'order_update', '--lang', 'en_US'], { env });
    expect(orderHuman.stdout).toMatch(/button 0 \(url\)\s+1\s+text {2}e\.g\. "ABC" {2}\(only the part for https:\/\/x\.example\/track\/…\)/);
    const human = await lumen(['templates', 'show', 'welcome'], { env });
    expect(human.stdout).toContain('Parameters a send must supply');
    expect(human.stdout).toMatch(/body\s+first_name/);

    const missing = await runLumen(['templates', 'show', 'nope'], { env });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('lumen templates sync');
  });
});
