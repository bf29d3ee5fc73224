/**
 * What a new user trips over, through the built CLI where only a process shows it (exit codes, signals, pipes, TZ).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { openStore } from '../../src/store/index.js';
import { SAFETY_NET_MS } from '../helpers/async.js';
import { textJob } from '../helpers/inbox.js';
import { postSigned, startRelay } from '../helpers/relay.js';
import { statusDelivery } from '../helpers/webhooks.js';
import { BIN } from '../helpers/cli.js';
import { acceptedPerRecipient, connectedHome, ndjson, writeCsv, type ConnectedHome } from '../helpers/send.js';

/** A loopback address nothing listens on: a Graph API that cannot be reached. */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const welcomeCsv = (count: number, offset: number) =>
  `to,first_name,shop\n${Array.from({ length: count }, (_, i) => `+1555000${String(offset + i)},Ana,Lumen`).join('\n')}\n`;

let sandbox: SandboxHandle;
let home: ConnectedHome;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());
beforeEach(async () => {
  home = await connectedHome(sandbox);
  sandbox.reset(); // connect's calls are not what these tests look at
});
afterEach(() => home.cleanup());

describe('times in human output', () => {
  it('are local, with the zone TZ names, and relative where it helps; --json keeps ISO UTC', async () => {
    // Given a contact who wrote an hour ago
    const wrote = new Date(Date.now() - 3_600_000);
    home.contactWrote('+15551234567', wrote);

    // When contacts are listed in New York and in Kolkata
    const newYork = await home.run(['contacts', 'list'], { env: { TZ: 'America/New_York' } });
    const kolkata = await home.run(['contacts', 'list'], { env: { TZ: 'Asia/Kolkata' } });

    // Then each shows its own zone, and the window's end relative to now
    expect(newYork.exitCode).toBe(0);
    expect(newYork.stdout).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d E[SD]T \(1 h ago\)/);
    expect(newYork.stdout).toMatch(/open until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d E[SD]T \(in 23 h\)/);
    expect(kolkata.stdout).toMatch(/GMT\+5:30 \(1 h ago\)/);
    const { json } = await home.runJson(['contacts', 'list'], { env: { TZ: 'Asia/Kolkata' } });
    expect(json[0].lastInboundAt).toBe(wrote.toISOString());
  });
});

describe('lumen send --csv, stopped early', () => {
  it.each([
    ['Ctrl-C', 'SIGINT'],
    ['SIGTERM (timeout, systemd, docker stop)', 'SIGTERM'],
  ] as const)('%s prints the summary (and its NDJSON event), exits 3, and a re-run sends the rows not sent', async (said, signal) => {
    // Given a bulk send at one message a second
    const csv = writeCsv(home.dir, 'slow.csv', welcomeCsv(30, 6000));
    const args = ['send', '--csv', csv, '--template', 'welcome', '--rate', '1', '--json'];
    const child = execa('node', [BIN, ...args], { env: home.env, extendEnv: false, reject: false, timeout: SAFETY_NET_MS, encoding: 'utf8' });
    // When Ctrl-C comes once the first row is reported
    let output = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('"event":"row"')) resolve();
      });
      child.catch(reject);
    });
    child.kill(signal);
    const result = await child;

    // Then the summary comes, the error document after it, and exit 3
    expect(result.exitCode, result.stderr).toBe(3);
    const events = ndjson(result.stdout);
    const summary = events.find((e) => e.event === 'summary');
    expect(summary).toMatchObject({ stopped: 'cancelled', total: 30 });
    expect(summary.notSent).toBeGreaterThan(0);
    expect(summary.sent + summary.notSent).toBe(30);
    expect(events.at(-1).error).toMatchObject({ code: 'cancelled', message: expect.stringContaining('Run the same command again') });
    expect(events.at(-1).error.message).toMatch(`Stopped (${said.split(' ')[0]})`);

    // When the same command runs again, faster
    const rerun = await home.run(['send', '--csv', csv, '--template', 'welcome', '--rate', '200', '--json']);
    // Then the rest is sent, every row once
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    expect(ndjson(rerun.stdout).at(-1)).toMatchObject({ event: 'summary', sent: summary.notSent, skipped: summary.sent, stopped: null });
    const perRecipient = acceptedPerRecipient(sandbox);
    expect(perRecipient.size).toBe(30);
    expect([...perRecipient.values()].every((n) => n === 1)).toBe(true);
  });

  it.each([
    ['a dry run', ['--dry-run'], '"status":"dry_run"'],
    ['the check of every row before a send', [], '"status":"invalid"'],
  ] as const)('Ctrl-C during %s stops it too (the file is read from memory, yet the signal is heard)', async (_what, extra, seen) => {
    // Given a big file whose first row is bad (reported while every row is checked)
    const rows = Array.from({ length: 50_000 }, (_, i) => `+1555${String(1_000_000 + i)},Ana,Lumen`);
    const csv = writeCsv(home.dir, 'big.csv', `to,first_name,shop\nnot-a-number,Ana,Lumen\n${rows.join('\n')}\n`);
    const child = execa('node', [BIN, 'send', '--csv', csv, '--template', 'welcome', '--json', ...extra], {
      env: home.env,
      extendEnv: false,
      reject: false,
      timeout: SAFETY_NET_MS,
      encoding: 'utf8',
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(seen)) resolve();
      });
      child.catch(reject);
    });
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode, result.stderr).toBe(3);
    const summary = ndjson(result.stdout).find((e) => e.event === 'summary');
    expect(summary).toMatchObject({ stopped: 'cancelled', total: 50_001, sent: 0 });
    expect(summary.notSent).toBeGreaterThan(0);
    expect(summary.dryRun + summary.notSent + summary.invalid).toBe(50_001);
    expect(sandbox.sent()).toHaveLength(0);
  });

  it('stops after a few network failures in a row when the Graph API cannot be reached, and says how to resume', async () => {
    // Given a Graph API nobody answers at
    const csv = writeCsv(home.dir, 'offline.csv', welcomeCsv(40, 7000));
    const args = ['send', '--csv', csv, '--template', 'welcome', '--rate', '2'];
    const offline = { LUMEN_GRAPH_URL: await closedPort() };
    // When the bulk send runs
    const run = await home.run([...args, '--json'], { env: offline });
    // Then it stops early: a few rows failed, the rest not tried, the summary says so, then the error (exit 1)
    expect(run.exitCode).toBe(1);
    const events = ndjson(run.stdout.trim().split('\n').slice(0, -1).join('\n'));
    const summary = events.find((e) => e.event === 'summary');
    expect(summary).toMatchObject({ stopped: 'graph_unreachable', sent: 0 });
    expect(summary.failed).toBeLessThan(40);
    expect(summary.notSent).toBe(40 - summary.failed);
    const error = JSON.parse(run.stdout.trim().split('\n').at(-1)!).error;
    expect(error).toMatchObject({ code: 'graph_unreachable', message: expect.stringContaining('cannot be reached') });
    expect(error.hint).toContain('run the same command again');
    const human = await home.run(args, { env: offline });
    expect(human.exitCode).toBe(1);
    expect(human.stdout).toMatch(/not sent \(stopped\)/);
    expect(human.stderr).toContain('Hint: Check the connection');

    // And once it is reachable again, the same command sends every row
    const back = await home.run([...args, '--rate', '200', '--json']);
    expect(back.exitCode, back.stderr).toBe(0);
    expect(acceptedPerRecipient(sandbox).size).toBe(40);
  });
});

describe('a send that failed on the network', () => {
  it('names its msg_ id, which messages show shows', async () => {
    home.contactWrote('+15551234567', new Date());
    const { result, json } = await home.runJson(['send', '--to', '+15551234567', '--text', 'hi'], { env: { LUMEN_GRAPH_URL: await closedPort() } });
    expect(result.exitCode).toBe(1);
    expect(json.error.code).toBe('graph_unreachable');
    const id = /msg_[0-9a-f]{24}/.exec(json.error.message)?.[0];
    expect(id, json.error.message).toBeDefined();
    const shown = await home.runJson(['messages', 'show', id!]);
    expect(shown.result.exitCode).toBe(0);
    expect(shown.json).toMatchObject({ id, state: 'failed' });
  });
});

describe('lumen messages list and show, both directions', () => {
  /** Stores received messages as the relay does (the inbox's own write). */
  async function received(...wamids: string[]): Promise<void> {
    const store = openStore(home.path('lumen.db'));
    try {
      const job = textJob(home.integrationId, ...wamids);
      await store.inbox.ingest([{ ...job, workspaceId: home.workspaceId, receivedAt: new Date(Date.now() - 60_000).toISOString() }]);
    } finally {
      store.close();
    }
  }

  it('lists received and sent messages newest first, --direction picks one, and every id it prints can be shown', async () => {
    // Given two received messages and one sent
    await received('wamid.IN1', 'wamid.IN2');
    home.contactWrote('+15551234567', new Date());
    const sent = await home.runJson(['send', '--to', '+15551234567', '--text', 'Your order shipped']);
    expect(sent.result.exitCode, sent.result.stderr).toBe(0);

    // When everything is listed
    const all = (await home.runJson(['messages', 'list'])).json as any[];
    // Then both directions are there, the send first (newest)
    expect(all.map((m) => m.direction)).toEqual(['out', 'in', 'in']);
    expect(all[0]).toMatchObject({ id: sent.json.id, to: '15551234567', state: 'accepted', text: 'Your order shipped' });
    expect((await home.runJson(['messages', 'list', '--direction', 'out'])).json.map((m: any) => m.id)).toEqual([sent.json.id]);
    expect((await home.runJson(['messages', 'list', '--direction', 'in'])).json.map((m: any) => m.wamid).sort()).toEqual(['wamid.IN1', 'wamid.IN2']);
    expect((await home.runJson(['messages', 'list', '--to', '15551234567'])).json).toHaveLength(1);
    const human = await home.run(['messages', 'list']);
    expect(human.stdout).toMatch(/→ out +\+15551234567 +text +accepted · Your order shipped +msg_/);
    expect(human.stdout).toMatch(/← in +\+15551234567 +text +hi +in_\d+/);

    // And a received message's in_… id and wamid show it
    const inId = all[1].id as string;
    for (const ref of [inId, all[1].wamid]) {
      const shown = await home.runJson(['messages', 'show', ref]);
      expect(shown.result.exitCode, ref).toBe(0);
      expect(shown.json).toMatchObject({ direction: 'in', id: inId, from: '15551234567', text: 'hi' });
    }
    const shownHuman = await home.run(['messages', 'show', inId]);
    expect(shownHuman.stdout).toContain(`${inId}  text from +15551234567`);
    const bad = await home.run(['messages', 'list', '--direction', 'sideways']);
    expect(bad.exitCode).toBe(2);
  });

  it('says nothing matched a filter, rather than that nothing is stored', async () => {
    await received('wamid.IN3');
    const result = await home.run(['messages', 'list', '--from', '+15550009999']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('No messages match these filters');
    expect(result.stdout).not.toContain('No messages stored yet');
  });
});

describe('lumen relay start, human output', () => {
  it('names a status by the msg_ id and recipient of the message lumen sent, not by its whole wamid', async () => {
    // Given a message lumen sent, and a running relay
    home.contactWrote('+15551234567', new Date());
    const sent = await home.runJson(['send', '--to', '+15551234567', '--text', 'hi']);
    expect(sent.result.exitCode, sent.result.stderr).toBe(0);
    const relay = await startRelay(home.env, [], { json: false });
    try {
      // When Meta says it was delivered
      const answer = await postSigned(
        `${relay.url}/webhooks/whatsapp/${home.integrationId}`,
        statusDelivery(sandbox.phoneNumberId, { wamid: sent.json.wamid, status: 'delivered', recipient: '15551234567' }),
        sandbox.appSecret,
      );
      expect(answer.status).toBe(200);
      // Then the line names the message and its recipient
      const line = await relay.waitForLine(/· delivered/);
      expect(line).toContain(`· delivered ${sent.json.id} to +15551234567`);
      expect(line).not.toContain(sent.json.wamid);
    } finally {
      await relay.stop();
    }
  });
});

describe('lumen demo 2>&1 | head -1', () => {
  it('leaves no temporary home behind when its reader goes away', async () => {
    // Given a TMPDIR of its own, and a reader that stops after the first line
    const tmp = mkdtempSync(join(tmpdir(), 'lumen-demo-tmp-'));
    try {
      const child = execa('node', [BIN, 'demo'], { env: { ...home.env, TMPDIR: tmp }, extendEnv: false, reject: false, timeout: SAFETY_NET_MS, buffer: false });
      // (`lumen demo 2>&1 | head -1`: the first line is a step on stderr, and every later write fails with EPIPE)
      await new Promise<void>((resolve) => {
        child.stderr!.once('data', () => {
          child.stderr!.destroy(); // what head does after its line
          child.stdout!.destroy();
          resolve();
        });
      });
      const result = await child;
      // Then it ends without a stack trace, and its home is gone
      expect(result.signal).toBeUndefined();
      expect(readdirSync(tmp).filter((name) => name.startsWith('lumen-demo-'))).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('smaller things a new user trips over', () => {
  it('lumen alone (or with only global flags) prints the help on stdout with exit 0, and lumen help NOUN VERB shows that command', async () => {
    const bare = await home.run([]);
    expect(bare.exitCode).toBe(0);
    expect(bare.stdout).toContain('Usage: lumen');
    // Only global flags are no command either: the same help, not an error
    for (const flags of [['--json'], ['--debug', '-w', 'acme']]) {
      const globalOnly = await home.run(flags);
      expect(globalOnly.exitCode).toBe(0);
      expect(globalOnly.stdout).toContain('Usage: lumen');
    }
    const help = await home.run(['help', 'whatsapp', 'connect']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Usage: lumen whatsapp connect');
    expect(help.stdout).toContain('--phone-number-id');
  });

  it('refuses an http:// public URL unless it is this machine, and a template status Meta does not have', async () => {
    const plain = await home.runJson(['relay', 'start', '--port', '0', '--public-url', 'http://care.example.dev']);
    expect(plain.result.exitCode).toBe(2);
    expect(plain.json.error.message).toMatch(/must use https:\/\/ \(Meta only calls HTTPS webhooks\)/);
    const status = await home.runJson(['templates', 'list', '--status', 'BOGUS']);
    expect(status.result.exitCode).toBe(2);
    expect(status.json.error.message).toBe(
      '--status must be one of APPROVED, PENDING, REJECTED, PAUSED, DISABLED, IN_APPEAL, PENDING_DELETION, DELETED, LIMIT_EXCEEDED, ARCHIVED; got "BOGUS".',
    );
    expect((await home.runJson(['templates', 'list', '--status', 'approved'])).result.exitCode).toBe(0);
  });

  it('says a missing CSV file in words, not ENOENT', async () => {
    const { result, json } = await home.runJson(['send', '--csv', home.path('nope.csv'), '--template', 'welcome']);
    expect(result.exitCode).toBe(2);
    expect(json.error.message).toMatch(/: no such file\.$/);
    expect(result.stdout).not.toContain('ENOENT');
  });

  it('refuses an unterminated quote in a CSV, naming the line, and sends nothing', async () => {
    const csv = writeCsv(home.dir, 'quote.csv', 'to,first_name,shop\n+15550008001,Ana,Lumen\n+15550008002,"Bo,Lumen\n+15550008003,Cy,Lumen\n');
    const { result, json } = await home.runJson(['send', '--csv', csv, '--template', 'welcome']);
    expect(result.exitCode).toBe(2);
    expect(json.error).toMatchObject({ code: 'csv_malformed', message: 'quote.csv, line 3: a quoted field is never closed (a " without its closing ").' });
    expect(sandbox.sent()).toEqual([]);
  });
});
