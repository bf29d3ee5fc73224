/**
 * The built CLI as a shell runs it: `node bin/lumen.js` loading dist/, one process per command. Most behaviour is
 * tested in process (`runLumen`, the same program with captured streams); these are what only a process shows: each
 * exit code as the shell gets it, `--json` documents on a real stdout (the result, or the `{error}` document, and
 * nothing else), stdin read from a pipe, and no stack trace without --debug.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { lumen } from '../helpers/cli.js';
import { connectedHome, type ConnectedHome } from '../helpers/send.js';

const TO = '+15551234567';
const HOUR = 60 * 60 * 1000;
const STACK = /\n\s+at /;

let sandbox: SandboxHandle;
let home: ConnectedHome;

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());
beforeEach(async () => {
  home = await connectedHome(sandbox);
  home.contactWrote(TO, new Date(Date.now() - HOUR));
  sandbox.reset();
});
afterEach(() => home.cleanup());

/** The built CLI in the connected home, `env` merged over the home's. */
const spawned = (args: string[], options: { env?: Record<string, string>; input?: string } = {}) =>
  lumen(args, { env: { ...home.env, ...options.env }, ...(options.input === undefined ? {} : { input: options.input }) });

/** stdout is exactly one JSON document. */
function onlyJson(stdout: string): any {
  expect(stdout.trim().startsWith('{') || stdout.trim().startsWith('[')).toBe(true);
  return JSON.parse(stdout);
}

describe('the built CLI: exit codes, --json and stdin as a shell sees them', () => {
  it('exits 0 with the sent message as the one JSON document on stdout, reading --body - from a pipe', async () => {
    const body = { type: 'location', location: { latitude: 38.7223, longitude: -9.1393 } };
    const result = await spawned(['send', '--to', TO, '--body', '-', '--json'], { input: JSON.stringify(body) });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(onlyJson(result.stdout)).toMatchObject({ outcome: 'sent', state: 'accepted', wamid: expect.stringMatching(/^wamid\./) });
    expect(sandbox.sent().map((s) => s.body)).toEqual([expect.objectContaining(body)]);
  });

  it('exits 8 for a message held for approval, and says so in --json', async () => {
    expect((await home.run(['approvals', 'policy', 'all'])).exitCode).toBe(0);
    const result = await spawned(['send', '--to', TO, '--text', 'Your refund is on its way', '--json']);
    expect(result.exitCode).toBe(8);
    expect(onlyJson(result.stdout)).toMatchObject({ outcome: 'pending_approval', state: 'pending_approval', wamid: null });
    expect(sandbox.sent()).toEqual([]);
  });

  it('exits 4 when Meta rejects the stored token, with the error document and no stack', async () => {
    // A second sandbox that knows another token stands for Meta after the stored one was revoked.
    const other = await startSandbox({ accessToken: 'EAAOtherOtherOtherOtherOtherOther1', appSecret: sandbox.appSecret });
    try {
      const rejected = await spawned(['send', '--to', TO, '--text', 'Hi', '--json'], { env: { LUMEN_GRAPH_URL: other.url } });
      expect(rejected.exitCode).toBe(4);
      expect(onlyJson(rejected.stdout).error).toMatchObject({ code: 'auth_invalid_token' });
      expect(rejected.stderr).not.toMatch(STACK);
      expect(other.sent()).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('exits 1 for what is not there, 2 for a usage error, each as one line without --debug and a stack with it', async () => {
    const missing = await spawned(['messages', 'show', 'msg_000000000000000000000000']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr.split('\n')[0]).toMatch(/^Error: /);
    expect(missing.stderr).not.toMatch(STACK);
    expect(missing.stdout).toBe('');

    const usage = await spawned(['send', '--to', TO, '--text', 'a', '--location', '1,2', '--json']);
    expect(usage.exitCode).toBe(2);
    expect(onlyJson(usage.stdout).error).toMatchObject({ code: expect.any(String), message: expect.any(String) });

    const debug = await spawned(['messages', 'show', 'msg_000000000000000000000000', '--debug']);
    expect(debug.exitCode).toBe(1);
    expect(debug.stderr).toMatch(STACK);
  });
});
