/**
 * Secrets never leave the secret store: with known values for the access token and the app secret (the sandbox is
 * started with them, so they are the real ones every call uses), every command a user has is run — plain, with
 * --json and with --debug — and stdout, stderr, the relay's output, what the forward target received, and every
 * file under LUMEN_HOME are searched for them in plain text, base64 (any alignment) and hex. The verify tokens that
 * connect and rotate-token print appear once, in the output of the command that made them, and nowhere else.
 * The error paths (a rejected token, an unreachable Graph API) are scanned too, with --debug.
 *
 * About seventy commands run here, most of them in this process (`runLumen`: the same program, with its stdout and
 * stderr captured); a connect and a rotate-token (which print a verify token) and a rejected token with --debug run
 * as the built CLI, so real processes' output is scanned too. The work is split into steps (one test each, in order, on
 * one LUMEN_HOME), read-only commands run two at a time, and each step has a generous timeout of its own. The last
 * test scans everything the steps kept.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { eventually, inPool } from '../helpers/async.js';
import { lumen, readTree, runLumen, type CliResult } from '../helpers/cli.js';
import { makeHome, type LumenHome } from '../helpers/home.js';
import { freePort, killAllRelays, startForwardTarget, startRelay, type ForwardTarget, type RunningRelay } from '../helpers/relay.js';

/** Each step runs up to a few dozen commands (and a relay): a safety net, not an expectation. */
const STEP_TIMEOUT = 240_000;
/** Read-only commands at once: a few overlap, as a user's scripts might. */
const CONCURRENCY = 2;

const ACCESS_TOKEN = `EAAScan${randomBytes(30).toString('base64url')}`;
const APP_SECRET = randomBytes(16).toString('hex');
/** A token Meta rejects: a user's typo is still a secret. */
const WRONG_TOKEN = `EAAWrong${randomBytes(30).toString('base64url')}`;
const CUSTOMER = '15551234567';

/** Every way a secret could be written down: as is, base64/base64url at each byte alignment, hex, UTF-16. */
function encodedForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = new Set<string>([secret, bytes.toString('hex'), bytes.toString('hex').toUpperCase(), Buffer.from(secret, 'utf16le').toString('latin1')]);
  for (let pad = 0; pad < 3; pad++) {
    const padded = Buffer.concat([Buffer.alloc(pad), bytes]);
    for (const encoding of ['base64', 'base64url'] as const) {
      // Only the characters that depend on the secret's bytes alone: skip the first (mixed with the padding) and
      // the last two (mixed with whatever follows).
      const text = padded.toString(encoding).replace(/=+$/, '');
      const start = Math.ceil((pad * 8) / 6);
      forms.add(text.slice(start, text.length - 2));
    }
  }
  return [...forms].filter((form) => form.length >= 16);
}

interface Captured {
  label: string;
  text: string;
  /** The verify token this output printed (connect / rotate-token), which it may contain once. */
  printed?: string;
}

let sandbox: SandboxHandle;
let home: LumenHome;
let env: Record<string, string>;
let hook: ForwardTarget;
const captured: Captured[] = [];
const verifyTokens: string[] = [];
/** The steps that finished: each step needs the ones before it, and the scan needs them all. */
const done = new Set<string>();

function keep(label: string, result: CliResult, printed?: string): CliResult {
  captured.push({ label, text: `${result.stdout}\n${result.stderr}`, ...(printed ? { printed } : {}) });
  return result;
}

/**
 * Runs `lumen …args` (with extra env) in process, or as the built CLI with `{ spawn: true }`, and keeps its output
 * for the scan; checks the exit code.
 */
async function run(args: string[], exitCode = 0, extraEnv: Record<string, string> = {}, how: { spawn?: boolean } = {}): Promise<CliResult> {
  const runner = how.spawn ? lumen : runLumen;
  const result = keep(`lumen ${args.join(' ')}${how.spawn ? ' (process)' : ''}`, await runner(args, { env: { ...env, ...extraEnv } }));
  expect(result.exitCode, `lumen ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`).toBe(exitCode);
  return result;
}

/** The command plain, with --json and with --debug. */
const variants = (args: string[]): string[][] => [args, [...args, '--json'], [...args, '--debug']];

/** Commands that change state: one after the other, each plain, with --json and with --debug. */
async function runEach(args: string[], exitCode = 0): Promise<CliResult[]> {
  const results: CliResult[] = [];
  for (const v of variants(args)) results.push(await run(v, exitCode));
  return results;
}

/** Read-only commands: every variant of each, a few at a time. */
async function runReadOnly(...commands: string[][]): Promise<void> {
  await inPool(commands.flatMap(variants), CONCURRENCY, (args) => run(args));
}

/** A verify token out of connect's or rotate-token's output (JSON or human). */
function verifyTokenIn(result: CliResult): string {
  const match = /\b(lvt_[A-Za-z0-9_-]{16,})/.exec(result.stdout);
  if (!match) throw new Error(`no verify token in:\n${result.stdout}`);
  return match[1]!;
}

/** connect / rotate-token (in process, or as the built CLI): the verify token it printed is allowed in its own output, once. */
async function runPrintingToken(args: string[], how: { spawn?: boolean } = {}): Promise<string> {
  const result = await (how.spawn ? lumen : runLumen)(args, { env });
  expect(result.exitCode, `lumen ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`).toBe(0);
  const token = verifyTokenIn(result);
  verifyTokens.push(token);
  keep(`lumen ${args.join(' ')}`, result, token);
  return token;
}

/** Fails a step at once, naming what is missing, when a step it builds on did not finish. */
function after(...steps: string[]): void {
  expect([...done], 'an earlier step failed: see its error').toEqual(expect.arrayContaining(steps));
}

beforeAll(async () => {
  sandbox = await startSandbox({ accessToken: ACCESS_TOKEN, appSecret: APP_SECRET, webhookDelayMs: 20 });
  home = makeHome({ sandbox });
  env = home.env;
  hook = await startForwardTarget();
});
afterAll(async () => {
  await killAllRelays();
  await hook.close();
  await sandbox.close();
  home.cleanup();
});

describe('secrets in outputs and files', () => {
  it('the scan finds a secret written in any of its forms inside other text', () => {
    const secret = APP_SECRET;
    const around = (inner: Buffer, pad: number) => Buffer.concat([Buffer.from('xyz'.slice(0, pad)), Buffer.from('{"k":"'), inner, Buffer.from('"}')]);
    const samples = [
      `prefix ${secret} suffix`,
      Buffer.from(`prefix ${secret} suffix`).toString('hex'),
      Buffer.from(`Bearer ${secret}`, 'utf16le').toString('latin1'),
      ...[0, 1, 2].flatMap((pad) => [around(Buffer.from(secret), pad).toString('base64'), around(Buffer.from(secret), pad).toString('base64url')]),
    ];
    for (const sample of samples) expect(encodedForms(secret).some((form) => sample.includes(form)), sample).toBe(true);
    expect(encodedForms(secret).some((form) => `${secret.slice(0, 16)}…`.includes(form))).toBe(false);
  });
});

describe('every command, plain, with --json and with --debug', () => {
  const connectArgs = () => ['whatsapp', 'connect', '--phone-number-id', sandbox.phoneNumberId, '--waba-id', sandbox.wabaId, '--no-input'];
  let integrationId: string;
  let relay: RunningRelay;
  let sentWamid: string;
  let heldId: string;

  it('connects (each connect prints a new verify token), checks, rotates and syncs', { timeout: STEP_TIMEOUT }, async () => {
    expect(sandbox.accessToken).toBe(ACCESS_TOKEN);
    await runPrintingToken(connectArgs(), { spawn: true });
    await runPrintingToken([...connectArgs(), '--yes', '--json']);
    await runPrintingToken([...connectArgs(), '--yes', '--debug']);
    await runReadOnly(['whatsapp', 'status']);
    await runEach(['whatsapp', 'status', '--check']);
    await runPrintingToken(['whatsapp', 'rotate-token'], { spawn: true });
    await runPrintingToken(['whatsapp', 'rotate-token', '--json']);
    await runPrintingToken(['whatsapp', 'rotate-token', '--debug']);
    await runEach(['templates', 'sync']);
    await runReadOnly(['templates', 'list'], ['templates', 'show', 'hello_world']);
    integrationId = JSON.parse((await run(['whatsapp', 'status', '--json'])).stdout).integrations[0].id as string;
    done.add('connected');
  });

  it('runs a relay (human output) that forwards and auto-replies, with the sandbox\'s webhooks pointed at it', { timeout: STEP_TIMEOUT }, async () => {
    after('connected');
    const human = await startRelay(env, ['--forward-to', hook.url, '--auto-reply', 'Thanks, we got it'], { json: false });
    sandbox.setWebhookUrl(`${human.url}/webhooks/whatsapp/${integrationId}`);
    await run(['trigger', 'message', '--text', 'hello from the customer', '--from', CUSTOMER]);
    await run(['trigger', 'message', '--type', 'image', '--from', CUSTOMER, '--json']);
    await run(['trigger', 'batch', '--debug']);
    await runReadOnly(['relay', 'status']);
    await eventually(() => expect(human.lines.join('\n')).toMatch(/replied to[\s\S]*replied to/), undefined, 50);
    await sandbox.webhooksIdle();
    await human.stop();
    captured.push({ label: 'relay start (human)', text: `${human.lines.join('\n')}\n${human.stderr()}` });
    done.add('human relay');
  });

  it('starts a relay with --json and --debug and sends it a message', { timeout: STEP_TIMEOUT }, async () => {
    after('human relay');
    relay = await startRelay(env, ['--forward-to', hook.url, '--auto-reply', 'Thanks again', '--debug']);
    sandbox.setWebhookUrl(`${relay.url}/webhooks/whatsapp/${integrationId}`);
    await run(['trigger', 'message', '--text', 'second message', '--from', CUSTOMER, '--json', '--debug']);
    await relay.waitForEvent((e) => e.event === 'auto_reply');
    await relay.waitForEvent((e) => e.event === 'dispatch' && e.ok === true);
    done.add('json relay');
  });

  it('sends every kind of message (the customer\'s window is open), with the sandbox answering', { timeout: STEP_TIMEOUT }, async () => {
    after('json relay');
    const [, sentText] = await runEach(['send', '--to', `+${CUSTOMER}`, '--text', 'a reply']);
    sentWamid = JSON.parse(sentText!.stdout).wamid as string;
    expect(sentWamid).toMatch(/^wamid\./);
    await runEach(['send', '--to', `+${CUSTOMER}`, '--template', 'hello_world', '--lang', 'en_US']);
    await runEach(['send', '--to', `+${CUSTOMER}`, '--template', 'order_update', '--lang', 'en_US', '--param', 'Ana', '--param', '#1', '--header-param', '#1', '--button-param', '0=1', '--dry-run']);
    const csv = (name: string, rows: string[]) => {
      const path = home.path(name);
      writeFileSync(path, ['to', ...rows].join('\n'));
      return path;
    };
    await run(['send', '--csv', csv('a.csv', ['+15550001001', '+15550001002']), '--template', 'hello_world', '--lang', 'en_US']);
    await run(['send', '--csv', csv('b.csv', ['+15550001003']), '--template', 'hello_world', '--lang', 'en_US', '--json']);
    await run(['send', '--csv', csv('c.csv', ['+15550001004', 'not-a-number']), '--template', 'hello_world', '--lang', 'en_US', '--debug'], 1);
    await run(['send', '--csv', csv('d.csv', ['+15550001005']), '--template', 'hello_world', '--lang', 'en_US', '--dry-run', '--json']);
    // A send Meta refuses (outside the window: 131047), with --debug
    sandbox.addFault({ to: '15550009999', code: 131047 });
    await run(['send', '--to', '+15550009999', '--template', 'hello_world', '--lang', 'en_US', '--debug'], 1);
    done.add('sends');
  });

  it('holds messages for approval, approves one and rejects the other', { timeout: STEP_TIMEOUT }, async () => {
    after('sends');
    await run(['approvals', 'policy', 'all']);
    await runReadOnly(['approvals', 'policy']);
    const held1 = JSON.parse((await run(['send', '--to', `+${CUSTOMER}`, '--text', 'held one', '--json'], 8)).stdout);
    const held2 = JSON.parse((await run(['send', '--to', `+${CUSTOMER}`, '--template', 'hello_world', '--lang', 'en_US', '--json', '--debug'], 8)).stdout);
    const idOf = (doc: any): string => doc.id ?? doc.message?.id ?? doc.messageId;
    heldId = idOf(held1);
    await runReadOnly(['approvals', 'list']);
    await run(['approvals', 'approve', heldId, '--debug']);
    await run(['approvals', 'reject', idOf(held2), '--reason', 'not now', '--json']);
    await run(['approvals', 'policy', 'none', '--debug']);
    done.add('approvals');
  });

  it('lists what was received and sent, replays an event, and keeps LUMEN_HOME as it is while the relay runs', { timeout: STEP_TIMEOUT }, async () => {
    after('approvals');
    const messages = JSON.parse((await run(['messages', 'list', '--json'])).stdout) as any[];
    expect(messages.length).toBeGreaterThanOrEqual(3);
    await runReadOnly(['messages', 'list'], ['messages', 'show', heldId], ['messages', 'show', sentWamid], ['contacts', 'list'], ['events', 'list']);
    const events = JSON.parse((await run(['events', 'list', '--json'])).stdout) as any[];
    await run(['events', 'replay', String(events[0]?.id), '--forward-to', hook.url, '--debug']);
    await run(['trigger', 'status', '--wamid', 'wamid.NOTOURS', '--status', 'failed', '--error-code', '131047', '--debug']);
    await sandbox.webhooksIdle();
    // LUMEN_HOME as it is while a relay runs: the WAL and the relay's state file exist now
    const whileRunning = readTree(home.dir).map((f) => ({ label: `${f.path.slice(home.dir.length + 1)} (relay running)`, text: f.text }));
    expect(whileRunning.map((f) => f.label)).toEqual(expect.arrayContaining(['lumen.db-wal (relay running)', 'relay.json (relay running)']));
    captured.push(...whileRunning);
    await relay.stop();
    captured.push({ label: 'relay start --json --debug', text: `${relay.lines.join('\n')}\n${relay.stderr()}` });
    captured.push({ label: 'forward target', text: hook.requests.map((r) => `${JSON.stringify(r.headers)}\n${r.body}`).join('\n') });
    done.add('listings');
  });

  it('takes the error paths with --debug: a token Meta rejects, a Graph API that is down, a revoked stored token; then disconnects', { timeout: STEP_TIMEOUT }, async () => {
    after('listings');
    const down = `http://127.0.0.1:${await freePort()}`;
    await run([...connectArgs(), '--yes', '--debug'], 4, { WHATSAPP_ACCESS_TOKEN: WRONG_TOKEN }, { spawn: true });
    await run([...connectArgs(), '--yes', '--debug', '--json'], 4, { WHATSAPP_ACCESS_TOKEN: WRONG_TOKEN });
    await run([...connectArgs(), '--yes', '--debug'], 1, { LUMEN_GRAPH_URL: down });
    await run(['whatsapp', 'status', '--check', '--debug'], 1, { LUMEN_GRAPH_URL: down });
    await run(['templates', 'sync', '--debug'], 1, { LUMEN_GRAPH_URL: down });
    await run(['send', '--to', `+${CUSTOMER}`, '--text', 'nobody home', '--debug'], 1, { LUMEN_GRAPH_URL: down });
    const elsewhere = await startSandbox({ accessToken: `EAAOther${randomBytes(20).toString('hex')}`, appSecret: APP_SECRET });
    try {
      await run(['whatsapp', 'status', '--check', '--debug'], 4, { LUMEN_GRAPH_URL: elsewhere.url });
      await run(['send', '--to', `+${CUSTOMER}`, '--text', 'revoked', '--debug', '--json'], 4, { LUMEN_GRAPH_URL: elsewhere.url });
    } finally {
      await elsewhere.close();
    }
    // Finally it is disconnected (secrets deleted)
    await run(['whatsapp', 'disconnect', '--yes', '--debug']);
    done.add('error paths');
  });

  it('no command, output or file holds the access token, the app secret or a verify token it did not print', () => {
    after('connected', 'human relay', 'json relay', 'sends', 'approvals', 'listings', 'error paths');
    // Then: nothing anywhere holds the token, the app secret or the wrong token, in any form…
    const files = readTree(home.dir).map((f) => ({ label: f.path.slice(home.dir.length + 1), text: f.text }));
    expect(files.map((f) => f.label)).toEqual(expect.arrayContaining(['lumen.db', 'secrets.enc.json', 'secrets.key']));
    const everything: Captured[] = [...captured, ...files];
    const leaks: string[] = [];
    for (const [name, secret] of [['access token', ACCESS_TOKEN], ['app secret', APP_SECRET], ['wrong token', WRONG_TOKEN]] as const) {
      for (const form of encodedForms(secret)) {
        for (const place of everything) if (place.text.includes(form)) leaks.push(`${name} (as ${JSON.stringify(form.slice(0, 12))}…) in ${place.label}`);
      }
    }
    // …and each verify token is only in the one output that printed it, once
    expect(verifyTokens).toHaveLength(6);
    expect(new Set(verifyTokens).size).toBe(6);
    for (const token of verifyTokens) {
      for (const form of encodedForms(token)) {
        for (const place of everything) {
          const count = place.text.split(form).length - 1;
          const allowed = place.printed === token && form === token ? 1 : 0;
          if (count !== allowed) leaks.push(`verify token ${token.slice(0, 8)}… (as ${JSON.stringify(form.slice(0, 12))}…) ${count}× in ${place.label}`);
        }
      }
    }
    expect(leaks).toEqual([]);
    // The scan looked at real work: the relay received, forwarded and replied; the sends reached the sandbox; every
    // command's output was kept
    expect(hook.requests.length).toBeGreaterThanOrEqual(3);
    expect(sandbox.sent().length).toBeGreaterThanOrEqual(8);
    expect(captured.length).toBeGreaterThan(70);
    // …and --debug was on where asked: its HTTP lines and stack traces were part of what was scanned
    const debugOutput = captured.filter((c) => c.label.includes('--debug')).map((c) => c.text).join('\n');
    expect(debugOutput).toMatch(/graph → /);
    expect(debugOutput).toMatch(/\n\s+at /);
  });
});
