/**
 * Several relays, one truth: two `lumen relay start` processes on different ports, each with a LUMEN_HOME of its own
 * (as two hosts), on one PostgreSQL database, behind a round-robin proxy. What one relay stored the other knows; a
 * dispatch event is delivered by one relay at a time, and a relay killed mid-stream has its claims taken over after
 * the lease; integration changes made from a third host reach both on their next request; an idempotency key is
 * claimed once across hosts. Skipped, with the reason, where no PostgreSQL server can start.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { eventually, inPool } from '../helpers/async.js';
import { lumen, runLumen } from '../helpers/cli.js';
import {
  deliverUntilAcknowledged,
  sharedDatabaseHomes,
  startHoldingTarget,
  shareSecrets,
  startRoundRobinProxy,
  withPg,
  type RoundRobinProxy,
} from '../helpers/cluster.js';
import type { LumenHome } from '../helpers/home.js';
import { freshDatabase, postgres } from '../helpers/postgres.js';
import {
  connectNumber,
  killAllRelays,
  lumenSignatureValid,
  postSigned,
  readSigningSecret,
  request,
  startForwardTarget,
  startRelay,
  type Connection,
  type ForwardTarget,
} from '../helpers/relay.js';
import { textDelivery } from '../helpers/webhooks.js';

const { skip } = postgres();
/** What a relay under test needs besides its home: no request-rate limit (the load is the test's own). */
const RELAY_ARGS = ['--rate-limit', '0', '--workspace-rate-limit', '0'];
/** A relay's dispatcher delivers at most this many events at once (Dispatcher's default concurrency). */
const DISPATCH_CONCURRENCY = 8;

let sandbox: SandboxHandle;
let database: { url: string; drop(): Promise<void> };
/** Hosts A and B run relays; C is where an operator runs the CLI. */
let hosts: LumenHome[];
let connection: Connection;
let proxy: RoundRobinProxy | undefined;
const targets: ForwardTarget[] = [];
const closers: Array<() => Promise<void>> = [];

let serial = 0;
const newWamid = (tag: string) => `wamid.MULTI${tag}${Date.now().toString(36)}${(serial++).toString(36)}=`;
const webhook = (base: string) => `${base}${connection.path}`;
const delivery = (wamid: string, from = '15551230000') => textDelivery(sandbox.phoneNumberId, { wamid, from, body: `hello ${wamid}` });
const handshake = (base: string, token: string) =>
  request(`${webhook(base)}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(token)}&hub.challenge=4242`);
const sql = (text: string, params?: unknown[]) => withPg(database.url, (query) => query(text, params));

async function target(): Promise<ForwardTarget> {
  const started = await startForwardTarget();
  targets.push(started);
  return started;
}

/** The wamid each forwarded request carried, in order of arrival. */
const forwardedWamids = (t: ForwardTarget) => t.accepted().map((r) => JSON.parse(r.body).wamid as string);

describe.skipIf(skip)(skip ? `several relays on one PostgreSQL (${skip})` : 'several relays on one PostgreSQL', () => {
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(async () => {
    sandbox.reset();
    database = await freshDatabase('lumen_multi');
    hosts = sharedDatabaseHomes(3, { databaseUrl: database.url, sandbox });
    connection = await connectNumber(hosts[0]!.env, sandbox.phoneNumberId, sandbox.wabaId);
    shareSecrets(hosts[0]!, hosts.slice(1));
  });
  afterEach(async () => {
    await killAllRelays();
    await proxy?.close();
    proxy = undefined;
    await Promise.all(targets.splice(0).map((t) => t.close()));
    await Promise.all(closers.splice(0).map((close) => close()));
    for (const host of hosts) host.cleanup();
    await database.drop();
  });

  it('stores a delivery sent to both relays once; the second relay answers 200 and calls it a redelivery', async () => {
    const receiver = await target();
    const [a, b] = await Promise.all(hosts.slice(0, 2).map((h) => startRelay(h.env, ['--forward-to', receiver.url, ...RELAY_ARGS])));
    const wamid = newWamid('same');
    const body = delivery(wamid);

    // When Meta's delivery reaches both relays at once (a retry racing the first attempt)
    const answers = await Promise.all([postSigned(webhook(a!.url), body, sandbox.appSecret), postSigned(webhook(b!.url), body, sandbox.appSecret)]);

    // Then both acknowledge it, one row holds it, and one relay reports the other's copy as a redelivery
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    expect(await sql('SELECT count(*)::int AS n FROM interactions WHERE wamid = $1', [wamid])).toEqual([{ n: 1 }]);
    const reports = await Promise.all(
      [a!, b!].map((relay) => relay.waitForEvent((e) => e.event === 'message' && e.text === `hello ${wamid}`)),
    );
    expect(reports.map((e) => Boolean(e.duplicate)).sort()).toEqual([false, true]);
    // And a later redelivery to either relay is a duplicate too
    const redeliveries = () => b!.events.filter((e) => e.event === 'message' && e.duplicate === true && e.text === `hello ${wamid}`).length;
    const before = redeliveries();
    expect((await postSigned(webhook(b!.url), body, sandbox.appSecret)).status).toBe(200);
    await eventually(() => expect(redeliveries()).toBe(before + 1));
    expect(await sql('SELECT count(*)::int AS n FROM interactions WHERE wamid = $1', [wamid])).toEqual([{ n: 1 }]);
    // And it is handed to the user's code once: delivered (one attempt) by one of the two
    const [event] = await eventually(async () => {
      const rows = await sql("SELECT state, attempts FROM dispatch_events WHERE state = 'delivered'");
      expect(rows).toHaveLength(1);
      return rows;
    });
    expect(event).toEqual({ state: 'delivered', attempts: 1 });
    expect(forwardedWamids(receiver)).toEqual([wamid]);
  });

  it(
    'hands each of 1,000 deliveries to the user\'s code while one relay is killed mid-stream: none lost, repeats only of what it had in flight',
    async () => {
      const receiver = await startHoldingTarget();
      closers.push(() => receiver.close());
      const [a, b] = await Promise.all(hosts.slice(0, 2).map((h) => startRelay(h.env, ['--forward-to', receiver.url, ...RELAY_ARGS])));
      proxy = await startRoundRobinProxy([a!.url, b!.url]);
      const secrets = { a: (await readSigningSecret(hosts[0]!.dir))!, b: (await readSigningSecret(hosts[1]!.dir))! };
      expect(secrets.a).not.toBe(secrets.b); // each host signs with its own: that tells their deliveries apart
      const signer = (r: { headers: IncomingHttpHeaders; body: string }) =>
        lumenSignatureValid(r.headers['lumen-signature'], r.body, secrets.a) ? 'a' : lumenSignatureValid(r.headers['lumen-signature'], r.body, secrets.b) ? 'b' : '?';
      const wamidOf = (r: { body: string }) => JSON.parse(r.body).wamid as string;

      // Given 1,000 deliveries through the proxy, 20 at a time, each retried until acknowledged as Meta does
      const wamids = Array.from({ length: 1000 }, (_, i) => newWamid(`k${i}`));
      let acknowledged = 0;
      let killed: Promise<unknown> | undefined;
      await inPool(wamids, 20, async (wamid, i) => {
        await deliverUntilAcknowledged(webhook(proxy!.url), delivery(wamid, `1555200${String(i % 50).padStart(4, '0')}`), sandbox.appSecret);
        acknowledged += 1;
        if (acknowledged === 400) {
          // When, 400 acknowledged, the user's code stops answering relay A (A's claims stay open, in flight)
          // and relay A is SIGKILLed while it waits
          receiver.holdWhen((r) => signer(r) === 'a');
          killed = eventually(() => expect(receiver.requests.filter((r) => r.held).length).toBeGreaterThan(0)).then(() => a!.kill());
        }
      });
      expect(await killed).toMatchObject({ signal: 'SIGKILL' });

      // Then every acknowledged delivery is stored once and handed on: A's open claims taken over after their lease
      expect(await sql('SELECT count(*)::int AS n, count(DISTINCT wamid)::int AS d FROM interactions')).toEqual([{ n: 1000, d: 1000 }]);
      await eventually(async () => {
        expect(await sql("SELECT count(*)::int AS n FROM dispatch_events WHERE state = 'delivered'")).toEqual([{ n: 1000 }]);
      }, 180_000, 250);
      const copies = new Map<string, string[]>();
      for (const r of receiver.requests) copies.set(wamidOf(r), [...(copies.get(wamidOf(r)) ?? []), signer(r)]);
      expect([...copies.keys()].sort()).toEqual([...wamids].sort());
      expect([...copies.values()].flat()).not.toContain('?');
      // Delivery is at least once: what A had handed on without hearing back is handed on again by B, each once more.
      const held = receiver.requests.filter((r) => r.held).map(wamidOf);
      expect(held.length).toBeGreaterThan(0);
      expect(held.length).toBeLessThanOrEqual(DISPATCH_CONCURRENCY); // one dispatcher batch was open at A
      for (const wamid of held) expect(copies.get(wamid), wamid).toEqual(['a', 'b']);
      // Nothing else repeats, but for what A may have had answered and not yet recorded in the instant it died
      const repeated = [...copies.entries()].filter(([, signers]) => signers.length > 1);
      expect(repeated.length).toBeLessThanOrEqual(held.length + DISPATCH_CONCURRENCY);
      for (const [wamid, signers] of repeated) expect(signers, wamid).toEqual(['a', 'b']);
    },
    300_000,
  );

  it('sends once when two hosts run the same send with the same idempotency key at the same time', async () => {
    const to = '+15551239876';
    const send = (host: LumenHome) =>
      lumen(['send', '--to', to, '--template', 'hello_world', '--lang', 'en_US', '--idempotency-key', 'order-77', '--json', '--no-input'], {
        env: host.env,
      });
    // When hosts A and B send it at once
    const results = await Promise.all([send(hosts[0]!), send(hosts[1]!)]);

    // Then Meta got it once; one run sent it and the other found it sent (or being sent) by the other host
    const reached = sandbox.sent().filter((s) => s.waId === to.slice(1));
    expect(reached).toHaveLength(1);
    const outcomes = results.map((r) => (r.exitCode === 0 ? JSON.parse(r.stdout).outcome : JSON.parse(r.stdout || r.stderr).error?.code));
    const said = results.map((r) => r.stdout + r.stderr).join('\n');
    expect(outcomes.filter((o) => o === 'sent'), said).toHaveLength(1);
    expect(['already_sent', 'send_outcome_unknown'], said).toContain(outcomes.find((o) => o !== 'sent'));
    expect(await sql("SELECT state FROM outbound_messages WHERE idempotency_key = 'order-77'")).toEqual([{ state: 'accepted' }]);
  });

  it('sends every row of one CSV once when two hosts run the same bulk send at the same time', async () => {
    const rows = Array.from({ length: 60 }, (_, i) => `+1555300${String(1000 + i)}`);
    const { writeFileSync } = await import('node:fs');
    const csvOf = (host: LumenHome) => {
      const path = host.path('bulk.csv');
      writeFileSync(path, `to\n${rows.join('\n')}\n`);
      return path;
    };
    const bulk = (host: LumenHome) =>
      lumen(['send', '--csv', csvOf(host), '--template', 'hello_world', '--lang', 'en_US', '--rate', '400', '--json', '--no-input'], {
        env: host.env,
      });
    // When hosts A and B send the same file at once
    const results = await Promise.all([bulk(hosts[0]!), bulk(hosts[1]!)]);
    // Then every recipient got the template once, each row sent by one host
    const perRecipient = new Map<string, number>();
    for (const { waId } of sandbox.sent()) if (waId !== undefined) perRecipient.set(waId, (perRecipient.get(waId) ?? 0) + 1);
    const said = results.map((r) => r.stderr).join('\n');
    expect(rows.map((r) => perRecipient.get(r.slice(1)) ?? 0), said).toEqual(rows.map(() => 1));
    const sentBy = (stdout: string) =>
      stdout.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line)).filter((e) => e.event === 'row' && e.status === 'sent').length;
    expect(sentBy(results[0]!.stdout) + sentBy(results[1]!.stdout)).toBe(rows.length);
  });

  it('decides a held message once when two hosts approve it at the same time, and sends it once', async () => {
    const to = '+15551230042';
    expect((await lumen(['approvals', 'policy', 'templates', '--no-input'], { env: hosts[2]!.env })).exitCode).toBe(0);
    const held = await lumen(['send', '--to', to, '--template', 'hello_world', '--lang', 'en_US', '--json', '--no-input'], { env: hosts[2]!.env });
    expect(held.exitCode, held.stderr).toBe(8);
    const id = JSON.parse(held.stdout).id as string;
    const approve = (host: LumenHome) => lumen(['approvals', 'approve', id, '--json', '--no-input'], { env: host.env });
    const [a, b] = await Promise.all([approve(hosts[0]!), approve(hosts[1]!)]);
    expect([a.exitCode, b.exitCode].sort(), a.stderr + b.stderr).toEqual([0, 1]);
    const loser = a.exitCode === 1 ? a : b;
    expect(JSON.parse(loser.stdout || loser.stderr).error.code).toMatch(/already_decided|send_outcome_unknown/);
    expect(sandbox.sent().filter((s) => s.waId === to.slice(1))).toHaveLength(1);
  });

  it('rotate-token and disconnect from a third host reach both relays on their next request', async () => {
    const [a, b] = await Promise.all(hosts.slice(0, 2).map((h) => startRelay(h.env, RELAY_ARGS)));
    for (const relay of [a!, b!]) expect((await handshake(relay.url, connection.verifyToken)).text).toBe('4242');

    // When the operator rotates the verify token on host C
    const rotated = await runLumen(['whatsapp', 'rotate-token', '--json'], { env: hosts[2]!.env });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const fresh = JSON.parse(rotated.stdout).webhook.verifyToken as string;

    // Then both relays refuse the old token and take the new one, on their very next handshake
    for (const relay of [a!, b!]) {
      expect((await handshake(relay.url, connection.verifyToken)).status).toBe(403);
      const answer = await handshake(relay.url, fresh);
      expect([answer.status, answer.text]).toEqual([200, '4242']);
    }

    // When the number is disconnected on host C, both relays no longer know its webhook path
    const disconnected = await runLumen(['whatsapp', 'disconnect', '--yes', '--json'], { env: hosts[2]!.env });
    expect(disconnected.exitCode, disconnected.stderr).toBe(0);
    for (const relay of [a!, b!]) {
      expect((await postSigned(webhook(relay.url), delivery(newWamid('gone')), sandbox.appSecret)).status).toBe(404);
    }
  });
});
