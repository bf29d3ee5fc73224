/**
 * The set-up the `lumen relay start` tests share: one sandbox per file, and per test a fresh LUMEN_HOME (file secret
 * store) with the sandbox's number connected; relays and forward targets a test started are stopped after it. The
 * bindings below are live (`sandbox`, `env`, `connection` are the current test's). Call `useRelayHome()` once at the
 * top of a test file.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { runLumen } from './cli.js';
import { makeHome, type LumenHome } from './home.js';
import { connectNumber, killAllRelays, startForwardTarget, type Connection, type ForwardTarget } from './relay.js';

export let sandbox: SandboxHandle;
export let home: LumenHome;
export let env: Record<string, string>;
export let connection: Connection;
const targets: ForwardTarget[] = [];

export function useRelayHome(): void {
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox.close();
  });
  beforeEach(async () => {
    sandbox.reset();
    home = makeHome({ sandbox });
    env = home.env;
    connection = await connectNumber(env, sandbox.phoneNumberId, sandbox.wabaId);
  });
  afterEach(async () => {
    await killAllRelays();
    await Promise.all(targets.splice(0).map((t) => t.close()));
    home.cleanup();
  });
}

export const webhookUrl = (relayUrl: string, id = connection.id) => `${relayUrl}/webhooks/whatsapp/${id}`;

/** A forward target, closed after the test. */
export async function target(respond?: (index: number) => number, port?: number): Promise<ForwardTarget> {
  const started = await startForwardTarget(respond, port);
  targets.push(started);
  return started;
}

/** `lumen <args> --json` in this test's home (in process); the parsed stdout. */
export async function lumenJson(args: string[]): Promise<any> {
  const result = await runLumen([...args, '--json'], { env });
  expect(result.exitCode, `${args.join(' ')}: ${result.stdout}${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout);
}

export const messagesList = (limit = 100): Promise<any[]> => lumenJson(['messages', 'list', '--limit', String(limit)]);
export const eventsList = (failed = false): Promise<any[]> => lumenJson(['events', 'list', ...(failed ? ['--failed'] : [])]);
export const contactsList = (): Promise<any[]> => lumenJson(['contacts', 'list']);

let serial = 0;
/** A unique wamid per call, shaped like Meta's. */
export const newWamid = (tag = 'm') => `wamid.TEST${tag}${Date.now().toString(36)}${(serial++).toString(36)}=`;
