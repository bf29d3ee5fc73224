import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { lumen, ROOT, runLumen } from '../helpers/cli.js';
import { makeHome, withDb, type LumenHome } from '../helpers/home.js';
import { runInPty } from '../helpers/pty.js';

let home: LumenHome;
beforeEach(() => {
  home = makeHome();
});
afterEach(() => home.cleanup());

describe('lumen --help and usage errors', () => {
  it('lists every command with an example', async () => {
    const result = await lumen(['--help'], { env: home.env });
    expect(result.exitCode).toBe(0);
    for (const command of ['whatsapp', 'templates', 'sandbox']) expect(result.stdout).toContain(command);
    for (const example of [
      'lumen whatsapp connect',
      'lumen whatsapp status',
      'lumen whatsapp rotate-token',
      'lumen whatsapp disconnect',
      'lumen templates sync',
      'lumen templates list',
      'lumen templates show',
      'lumen sandbox start',
    ]) {
      expect(result.stdout).toContain(example);
    }
  });

  it('an unknown option is a one-line usage error with exit 2', async () => {
    const result = await lumen(['whatsapp', 'status', '--frobnicate'], { env: home.env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')[0]).toBe("Error: unknown option '--frobnicate'");
  });

  it('help for a command that does not exist is an unknown command, exit 2, not the top-level help', async () => {
    for (const args of [['help', 'bogus'], ['bogus', '--help'], ['help', 'templates', 'bogus']]) {
      const result = await lumen(args, { env: home.env });
      expect(result.exitCode, args.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^Error: unknown command '(templates )?bogus'/);
    }
    // Global flags before `help` (or before the command) change nothing
    for (const args of [['help', 'bogus', '--json'], ['--json', 'help', 'relay', 'bogus'], ['-w', 'acme', '--json', 'relay', 'bogus', '--help']]) {
      const json = await lumen(args, { env: home.env });
      expect(json.exitCode, args.join(' ')).toBe(2);
      expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'usage', message: expect.stringMatching(/^unknown command '(relay )?bogus'$/) });
    }
    // What names a command still shows its help, arguments and all.
    for (const args of [['help', 'messages', 'show'], ['--json', '-w', 'acme', 'help', 'messages', 'show']]) {
      const shown = await lumen(args, { env: home.env });
      expect(shown.exitCode).toBe(0);
      expect(shown.stdout).toMatch(/^Usage: lumen messages show \[options\] <id>/);
    }
  });

  it('with --json, errors are one JSON document on stdout', async () => {
    const result = await lumen(['templates', 'list', '--json'], { env: home.env });
    expect(result.exitCode).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      error: { code: 'not_connected', message: expect.stringContaining('No WhatsApp number'), hint: expect.any(String) },
    });
  });

  it('global flags work after the subcommand too', async () => {
    const result = await runLumen(['whatsapp', 'status', '--workspace', 'acme', '--json'], { env: home.env });
    expect(JSON.parse(result.stdout).error.message).toBe('No workspace "acme".');
  });

  it('a bad port for the sandbox is a usage error', async () => {
    const result = await runLumen(['sandbox', 'start', '--port', 'http'], { env: home.env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--port must be a number');
  });
});

describe('interactive connect in a pseudo-terminal', () => {
  let sandbox: SandboxHandle;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(() => sandbox.close());

  it('prompts for each value with secrets masked, then prints the verify token', async () => {
    const env = { ...home.env, LUMEN_GRAPH_URL: sandbox.url };
    delete (env as Record<string, string | undefined>).NO_COLOR;
    const result = await runInPty(['whatsapp', 'connect'], env, [
      { expect: /Phone number ID/, send: `${sandbox.phoneNumberId}\r` },
      { expect: /WABA ID/, send: `${sandbox.wabaId}\r` },
      { expect: /Access token/, send: `${sandbox.accessToken}\r` },
      { expect: /App secret/, send: `${sandbox.appSecret}\r` },
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.output).toContain('Verify token');
    expect(result.output).toContain('Connected');
    // Masked: what was typed never echoes back.
    expect(result.output).not.toContain(sandbox.accessToken);
    expect(result.output).not.toContain(sandbox.appSecret);
  });

  it('re-prompts on a malformed value instead of failing', async () => {
    const env = { ...home.env, LUMEN_GRAPH_URL: sandbox.url };
    const result = await runInPty(['whatsapp', 'connect'], env, [
      { expect: /Phone number ID/, send: '+1 555 010 4242\r' },
      { expect: /phone number itself/, send: '\u0015' }, // Ctrl-U clears the line
      { expect: /.*/, send: `${sandbox.phoneNumberId}\r` },
      { expect: /WABA ID/, send: '\u0003' },
    ]);
    expect(result.exitCode).toBe(3);
  });

  it('Ctrl-C at a prompt exits 3 and writes nothing', async () => {
    const env = { ...home.env, LUMEN_GRAPH_URL: sandbox.url };
    const result = await runInPty(['whatsapp', 'connect'], env, [{ expect: /Phone number ID/, send: '\u0003' }]);
    expect(result.exitCode).toBe(3);
    if (existsSync(home.path('lumen.db'))) {
      expect(withDb(home.dir, (db) => db.prepare('SELECT COUNT(*) AS n FROM integrations').get())).toEqual({ n: 0 });
    }
    expect(existsSync(home.path('secrets.enc.json'))).toBe(false);
  });
});

describe('lumen --version', () => {
  const ownVersion = async () => (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  it("prints lumen's own version, also inside another package's npm script", async () => {
    // Given npm's variable for the version of the package whose script is running
    const env = { ...home.env, npm_package_version: '9.9.9' };
    const result = await lumen(['--version'], { env });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(await ownVersion());
  });

  it('with --json, before or after it, prints {"version": …}', async () => {
    for (const args of [['--json', '--version'], ['--version', '--json'], ['-v', '--json']]) {
      const result = await runLumen(args, { env: home.env });
      expect(result.exitCode).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ version: await ownVersion() });
    }
  });
});

describe('workspaces', () => {
  let sandbox: SandboxHandle;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(() => sandbox.close());

  /** The sandbox as the Graph API, its secrets in the environment (as `connect --no-input` reads them). */
  const graphEnv = (more: Record<string, string> = {}) => ({
    ...home.env,
    LUMEN_GRAPH_URL: sandbox.url,
    WHATSAPP_ACCESS_TOKEN: sandbox.accessToken,
    WHATSAPP_APP_SECRET: sandbox.appSecret,
    ...more,
  });
  const connectArgs = () => ['whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', sandbox.wabaId, '--no-input', '--json'];
  const workspaceNames = async () => {
    const result = await runLumen(['workspaces', 'list', '--json'], { env: home.env });
    expect(result.exitCode).toBe(0);
    return (JSON.parse(result.stdout) as Array<{ name: string }>).map((w) => w.name);
  };

  it('connect creates the workspace it is given, with the ids from their env twins; workspaces list shows it', async () => {
    // Given the ids in WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_WABA_ID instead of flags
    const env = graphEnv({ WHATSAPP_PHONE_NUMBER_ID: sandbox.phoneNumberId, WHATSAPP_WABA_ID: sandbox.wabaId });
    // When connecting in a workspace that does not exist yet
    const connected = await runLumen(['whatsapp', 'connect', '-w', 'acme', '--no-input', '--json'], { env });
    // Then it is created, with the number in it
    expect(connected.exitCode).toBe(0);
    expect(JSON.parse(connected.stdout)).toMatchObject({ workspace: 'acme', phone: { id: sandbox.phoneNumberId } });
    const list = await runLumen(['workspaces', 'list', '--json'], { env: home.env });
    expect(JSON.parse(list.stdout)).toEqual([{ name: 'acme', numbers: 1, createdAt: expect.any(String) }]);
    const human = await lumen(['workspaces', 'list'], { env: home.env });
    expect(human.stdout).toMatch(/^NAME +NUMBERS +CREATED\nacme +1 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+$/);
  });

  it('LUMEN_WORKSPACE is the env twin of --workspace, and the flag wins over it', async () => {
    // Given a number connected through LUMEN_WORKSPACE=acme
    expect((await runLumen(connectArgs(), { env: graphEnv({ LUMEN_WORKSPACE: 'acme' }) })).exitCode).toBe(0);
    // When a command runs with LUMEN_WORKSPACE=acme, and then with it set but overridden by the flag
    const fromEnv = await runLumen(['whatsapp', 'status', '--json'], { env: { ...home.env, LUMEN_WORKSPACE: 'acme' } });
    const fromFlag = await runLumen(['whatsapp', 'status', '--json', '-w', 'acme'], { env: { ...home.env, LUMEN_WORKSPACE: 'other' } });
    // Then both act in acme
    for (const result of [fromEnv, fromFlag]) {
      expect(result.exitCode).toBe(0);
      expect(JSON.parse(result.stdout).integrations).toHaveLength(1);
    }
    expect(await workspaceNames()).toEqual(['acme']);
  });

  it('read-only commands do not create the workspace they are asked about: not found, naming those that exist', async () => {
    // Given one workspace, acme
    expect((await runLumen([...connectArgs(), '-w', 'acme'], { env: graphEnv() })).exitCode).toBe(0);
    // When read-only commands name one that does not exist (a typo)
    for (const args of [['messages', 'list'], ['templates', 'list'], ['whatsapp', 'status'], ['approvals', 'policy']]) {
      const result = await runLumen(['-w', 'amce', ...args], { env: home.env });
      // Then each fails (exit 1) with the workspaces there are
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toBe(
        'Error: No workspace "amce".\n' +
          'Hint: Workspaces here: "acme". Connecting a number to a workspace creates it: `lumen whatsapp connect --workspace amce`.',
      );
    }
    const json = await runLumen(['contacts', 'list', '--json'], { env: { ...home.env, LUMEN_WORKSPACE: 'amce' } });
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      error: { code: 'workspace_not_found', message: 'No workspace "amce".', hint: expect.stringContaining('(LUMEN_WORKSPACE is set to "amce")') },
    });
    // And nothing was created
    expect(await workspaceNames()).toEqual(['acme']);
  });

  it('refuses to create a workspace whose name is blank or holds control characters (exit 2, nothing created)', async () => {
    for (const name of ['', '  ', 'a\u0001b', 'a b', '-x', 'x'.repeat(65)]) {
      // When connect would create it, or a read-only command names it
      const connect = await runLumen([...connectArgs(), '-w', name], { env: graphEnv() });
      const status = await runLumen(['whatsapp', 'status', '--json'], { env: { ...home.env, LUMEN_WORKSPACE: name } });
      // Then it is a usage error naming the rule, with the name escaped
      expect(connect.exitCode).toBe(2);
      expect(JSON.parse(connect.stdout).error).toEqual({
        code: 'usage',
        message: `${JSON.stringify(name)} is not a workspace name: up to 64 letters, digits, ".", "-" and "_", starting with a letter or digit.`,
        hint: null,
      });
      if (name.trim() === '') continue; // a blank LUMEN_WORKSPACE counts as not set
      expect(status.exitCode).toBe(2);
      expect(JSON.parse(status.stdout).error.message).toContain(`${JSON.stringify(name)} is not a workspace name`);
    }
    // And the names it allows still work
    expect((await runLumen([...connectArgs(), '-w', 'acme.eu_2-b'], { env: graphEnv() })).exitCode).toBe(0);
    expect(await workspaceNames()).toEqual(['acme.eu_2-b', 'default']); // default: the blank LUMEN_WORKSPACE above
  });

  it('setting an approval policy creates its workspace (before its first number); showing it does not', async () => {
    const show = await runLumen(['approvals', 'policy', '-w', 'beta', '--json'], { env: home.env });
    expect(show.exitCode).toBe(1);
    expect(JSON.parse(show.stdout).error.code).toBe('workspace_not_found');
    const set = await runLumen(['approvals', 'policy', 'all', '-w', 'beta', '--json'], { env: home.env });
    expect(set.exitCode).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ workspace: 'beta', policy: 'all' });
    expect(await workspaceNames()).toEqual(['beta']);
  });

  it('the default workspace needs no creating', async () => {
    const result = await runLumen(['messages', 'list', '--json'], { env: home.env });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
  });
});
