/**
 * Several lumen runs racing on one LUMEN_HOME: what one of them claims in the database, the others cannot do again.
 * Each case starts them together and checks what Meta (the sandbox) received: once, never twice. The bulk run and the
 * dispatchers are real processes (they run long enough to overlap whatever their start-up times); the single sends
 * and approvals are CLI runs in this process, each with its own database connection, because a child's start-up
 * takes longer than one send and real processes would rarely meet.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { lumen } from '../helpers/cli.js';
import { acceptedPerRecipient, acceptedSends, connectedHome, ndjson, writeCsv, type ConnectedHome } from '../helpers/send.js';

const TO = '+15551234567';
const TEMPLATE = ['--template', 'hello_world', '--lang', 'en_US'];

let sandbox: SandboxHandle;
let home: ConnectedHome;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(async () => {
  sandbox.reset();
  home = await connectedHome(sandbox);
});
afterEach(() => home.cleanup());

describe('processes racing on one LUMEN_HOME', () => {
  it('the same --idempotency-key from three processes at once sends once', async () => {
    // Given three processes sending the same message under the same key at the same moment
    const args = ['send', '--to', TO, ...TEMPLATE, '--idempotency-key', 'order-42', '--json'];
    const results = await Promise.all([home.run(args), home.run(args), home.run(args)]);
    // Then Meta got it once, and every process answered with that message (sent, already sent, or being sent)
    expect(acceptedSends(sandbox)).toHaveLength(1);
    const ids = new Set<string>();
    for (const result of results) {
      const json = JSON.parse(result.stdout);
      if (result.exitCode === 0) {
        expect(['sent', 'already_sent']).toContain(json.outcome);
        ids.add(json.id);
      } else {
        expect(json.error.code).toBe('send_outcome_unknown');
        expect(json.error.message).toMatch(/already being sent/);
      }
    }
    expect(ids.size).toBe(1);
    expect(home.outbox()).toHaveLength(1);
  });

  it('an empty --idempotency-key is a usage error, not a send without one', async () => {
    const empty = await home.runJson(['send', '--to', TO, ...TEMPLATE, '--idempotency-key', '']);
    expect(empty.result.exitCode).toBe(2);
    expect(empty.json.error.message).toBe('--idempotency-key is empty.');
    expect(acceptedSends(sandbox)).toHaveLength(0);
    expect(home.outbox()).toHaveLength(0);
  });

  it('reusing an idempotency key for a different message is an error, and nothing is sent for it', async () => {
    const first = await home.run(['send', '--to', TO, ...TEMPLATE, '--idempotency-key', 'k1', '--json']);
    expect(first.exitCode).toBe(0);
    const other = await home.runJson(['send', '--to', '+15550001111', ...TEMPLATE, '--idempotency-key', 'k1']);
    expect(other.result.exitCode).toBe(1);
    expect(other.json.error.code).toBe('idempotency_conflict');
    expect(acceptedSends(sandbox)).toHaveLength(1);
  });

  it('the same 200-row CSV from two processes at once reaches every recipient once', async () => {
    const rows = Array.from({ length: 200 }, (_, i) => `+1555100${String(1000 + i)}`);
    const csv = writeCsv(home.dir, 'big.csv', `to\n${rows.join('\n')}\n`);
    const args = ['send', '--csv', csv, ...TEMPLATE, '--rate', '400', '--json'];
    const [a, b] = await Promise.all([lumen(args, { env: home.env }), lumen(args, { env: home.env })]);
    // (A process that finds a row being sent by the other reports it as not known to have reached Meta, exit 1:
    // from the row alone that cannot be told from a run killed mid-send, whose rows must be reported so.)
    for (const result of [a, b]) expect([0, 1], result.stderr).toContain(result.exitCode);
    const perRecipient = acceptedPerRecipient(sandbox);
    expect(perRecipient.size).toBe(200);
    expect([...perRecipient.values()].every((n) => n === 1)).toBe(true);
    // Each row was sent by one of them; the other skipped it or saw it being sent.
    const sentBy = (stdout: string) => ndjson(stdout).filter((e) => e.event === 'row' && e.status === 'sent').length;
    expect(sentBy(a.stdout) + sentBy(b.stdout)).toBe(200);
  });

  it('the same approval from two processes at once is decided once and sent once', async () => {
    await home.run(['approvals', 'policy', 'templates']);
    const held = await home.runJson(['send', '--to', TO, ...TEMPLATE]);
    expect(held.result.exitCode).toBe(8);
    const id = held.json.id as string;
    const [a, b] = await Promise.all([
      home.runJson(['approvals', 'approve', id]),
      home.runJson(['approvals', 'approve', id]),
    ]);
    expect([a.result.exitCode, b.result.exitCode].sort()).toEqual([0, 1]);
    const loser = a.result.exitCode === 1 ? a : b;
    expect(loser.json.error.code).toMatch(/already_decided|send_outcome_unknown/);
    expect(acceptedSends(sandbox)).toHaveLength(1);
  });
});

describe('dispatchers racing on one database', () => {
  it('two processes working the same dispatch queue deliver each event once', async () => {
    const { join } = await import('node:path');
    const { execa } = await import('execa');
    const { openStore } = await import('../../src/store/index.js');
    const { startForwardTarget } = await import('../helpers/relay.js');
    const { textJob } = await import('../helpers/inbox.js');
    const { ROOT } = await import('../helpers/cli.js');
    // Given 60 queued events
    const path = join(home.dir, 'race.db');
    const store = openStore(path);
    const wamids = Array.from({ length: 60 }, (_, i) => `wamid.race${i}`);
    await store.inbox.ingest([{ ...textJob('wa_1', ...wamids), enqueueDispatch: true }]);
    store.close();
    const target = await startForwardTarget();
    // When two processes run a dispatcher against it until nothing is due
    const script = `
      const { openStore } = await import(${JSON.stringify(join(ROOT, 'dist', 'store', 'index.js'))});
      const { Dispatcher, forwardTarget } = await import(${JSON.stringify(join(ROOT, 'dist', 'relay', 'dispatch.js'))});
      const store = openStore(process.argv[1]);
      const dispatcher = new Dispatcher({ dispatch: store.dispatch, inbox: store.inbox, target: forwardTarget(process.argv[2], 'whsec_test'), concurrency: 4 });
      dispatcher.start();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const left = await store.dispatch.list({ workspaceId: 'ws_1', failedOnly: false, limit: 1000 });
        if (left.every((e) => e.state === 'delivered')) break;
      }
      await dispatcher.stop();
      store.close();`;
    const run = () => execa('node', ['--input-type=module', '-e', script, path, target.url], { reject: false, timeout: 60_000 });
    const results = await Promise.all([run(), run()]);
    try {
      for (const result of results) expect(result.exitCode, result.stderr).toBe(0);
      // Then each event reached the target exactly once
      const delivered = target.requests.map((r) => JSON.parse(r.body).wamid as string);
      expect(delivered.sort()).toEqual([...wamids].sort());
    } finally {
      await target.close();
    }
  });
});
