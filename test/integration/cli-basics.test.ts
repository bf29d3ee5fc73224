import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { lumen, makeHome, type LumenHome } from '../helpers/cli.js';
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

  it('with --json, errors are one JSON document on stdout', async () => {
    const result = await lumen(['templates', 'list', '--json'], { env: home.env });
    expect(result.exitCode).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      error: { code: 'not_connected', message: expect.stringContaining('No WhatsApp number'), hint: expect.any(String) },
    });
  });

  it('global flags work after the subcommand too', async () => {
    const result = await lumen(['whatsapp', 'status', '--workspace', 'acme', '--json'], { env: home.env });
    expect(JSON.parse(result.stdout).error.message).toContain('workspace acme');
  });

  it('a bad port for the sandbox is a usage error', async () => {
    const result = await lumen(['sandbox', 'start', '--port', 'http'], { env: home.env });
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
    const dbPath = join(home.dir, 'lumen.db');
    if (existsSync(dbPath)) {
      const db = new Database(dbPath, { readonly: true });
      expect(db.prepare('SELECT COUNT(*) AS n FROM integrations').get()).toEqual({ n: 0 });
      db.close();
    }
    expect(existsSync(join(home.dir, 'secrets.enc.json'))).toBe(false);
  });
});

describe('lumen --version', () => {
  const ownVersion = async () => ((await import('../../package.json')).default as { version: string }).version;

  it("prints lumen's own version, also inside another package's npm script", async () => {
    // Given npm's variable for the version of the package whose script is running
    const env = { ...home.env, npm_package_version: '9.9.9' };
    const result = await lumen(['--version'], { env });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(await ownVersion());
  });

  it('with --json, before or after it, prints {"version": …}', async () => {
    for (const args of [['--json', '--version'], ['--version', '--json'], ['-v', '--json']]) {
      const result = await lumen(args, { env: home.env });
      expect(result.exitCode).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ version: await ownVersion() });
    }
  });
});
