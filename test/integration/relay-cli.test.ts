/**
 * `lumen relay start` end to end: the built CLI as a child process on a real port, the sandbox as the Graph API,
 * a fresh LUMEN_HOME (file secret store) per test. What is asserted is what a user would check: HTTP answers, what
 * `lumen messages|events|contacts list --json` show, what a forward target received, and the database on disk.
 */
import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signBody } from '../../src/relay/signature.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { eventually, inPool } from '../helpers/async.js';
import { lumen, runLumen } from '../helpers/cli.js';
import { makeHome, withDb, type LumenHome } from '../helpers/home.js';
import {
  connectNumber,
  freePort,
  killAllRelays,
  lumenSignatureValid,
  postSigned,
  readSigningSecret,
  postAnnouncing,
  request,
  startForwardTarget,
  startRelay,
  startSlowPost,
  type Connection,
  type ForwardTarget,
  type HttpAnswer,
  type RelayExit,
} from '../helpers/relay.js';
import { delivery, entry, fixtureFor, inbound, messagesChange, statusDelivery, textDelivery, toBody } from '../helpers/webhooks.js';

let sandbox: SandboxHandle;
let home: LumenHome;
let env: Record<string, string>;
let connection: Connection;
const targets: ForwardTarget[] = [];

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

const webhookUrl = (relayUrl: string, id = connection.id) => `${relayUrl}/webhooks/whatsapp/${id}`;

async function target(respond?: (index: number) => number, port?: number): Promise<ForwardTarget> {
  const started = await startForwardTarget(respond, port);
  targets.push(started);
  return started;
}

/** `lumen <args> --json` in this test's home (in process); the parsed stdout. */
async function lumenJson(args: string[]): Promise<any> {
  const result = await runLumen([...args, '--json'], { env });
  expect(result.exitCode, `${args.join(' ')}: ${result.stdout}${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout);
}

const messagesList = (limit = 100): Promise<any[]> => lumenJson(['messages', 'list', '--limit', String(limit)]);
const eventsList = (failed = false): Promise<any[]> => lumenJson(['events', 'list', ...(failed ? ['--failed'] : [])]);
const contactsList = (): Promise<any[]> => lumenJson(['contacts', 'list']);

let serial = 0;
/** A unique wamid per call, shaped like Meta's. */
const newWamid = (tag = 'm') => `wamid.TEST${tag}${Date.now().toString(36)}${(serial++).toString(36)}=`;

describe('lumen relay start: handshake', () => {
  it("answers Meta's verification GET with the challenge only for the right verify token", async () => {
    // Given a connected number and a running relay
    const relay = await startRelay(env);
    const query = (token: string) =>
      `?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(token)}&hub.challenge=1158201444`;

    // When Meta verifies the Callback URL with the token `connect` printed
    const ok = await request(webhookUrl(relay.url) + query(connection.verifyToken));
    // Then it gets the challenge back as plain text
    expect(ok.status).toBe(200);
    expect(ok.contentType).toMatch(/^text\/plain/);
    expect(ok.text).toBe('1158201444');

    // A wrong token, or the right one without hub.mode=subscribe, is refused
    const wrong = await request(webhookUrl(relay.url) + query('lvt_not-the-token'));
    expect(wrong.status).toBe(403);
    expect(wrong.json.error.code).toBe('verify_token_mismatch');
    const noMode = await request(
      `${webhookUrl(relay.url)}?hub.verify_token=${encodeURIComponent(connection.verifyToken)}&hub.challenge=1`,
    );
    expect(noMode.status).toBe(403);

    // An integration id that does not exist is not found
    const unknown = await request(webhookUrl(relay.url, 'wa_00000000000000000000000000000000') + query(connection.verifyToken));
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('unknown_integration');

    // Once it has stopped (all its output read): one handshake event each, and the verify token never logged
    expect((await relay.stop()).exitCode).toBe(0);
    expect(relay.events.filter((e) => e.event === 'handshake').map((e) => e.ok)).toEqual([true, false, false]);
    expect(relay.lines.join('\n') + relay.stderr()).not.toContain(connection.verifyToken);
  });
});

describe('lumen relay start: the webhook samples', () => {
  const messageFixtures = [
    {
      file: '01-inbound-text.json',
      wamid: 'wamid.xyzxyz',
      type: 'text',
      text: 'Body Text',
      from: '972987654321',
      name: 'Test Name',
    },
    {
      file: '02-inbound-image.json',
      wamid: 'wamid.xyzxyz',
      type: 'image',
      text: '[image] (media 65463453)',
      from: '972987654321',
      name: 'Test Name',
    },
    {
      file: '03-inbound-interactive-button-reply.json',
      wamid: 'wamid.xyzxyz',
      type: 'interactive',
      text: '[button] title (callback_data)',
      from: '972987654321',
      name: 'Test Name',
    },
    {
      file: '06-inbound-reaction-emoji-escaped.json',
      wamid: 'wamid.xyzxyz',
      type: 'reaction',
      text: '[reaction] 😮 to wamid.yzxyzx=',
      from: '972987654321',
      name: 'Test Name',
    },
    {
      file: '16-meta-docs-inbound-text.json',
      wamid: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
      type: 'text',
      text: 'Does it come in another color?',
      from: '16505551234',
      name: 'Sheena Nelson',
    },
  ];

  it.each(messageFixtures)('$file is received and stored once, as $type', async (fixture) => {
    // Given a relay and the sample rewritten for the connected number (every other byte as published)
    const relay = await startRelay(env);
    const body = fixtureFor(fixture.file, sandbox.phoneNumberId);
    expect(body.toString()).toContain(`"phone_number_id": "${sandbox.phoneNumberId}"`);
    if (fixture.type === 'reaction') expect(body.toString()).toContain('"emoji": "\\ud83d\\ude2e"'); // still escaped

    // When Meta delivers it
    const answer = await postSigned(webhookUrl(relay.url), body, sandbox.appSecret);

    // Then it is acknowledged and stored once, as the user sees it
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ status: 'received', messages: 1 });
    const messages = await messagesList();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      channel: 'whatsapp',
      integrationId: connection.id,
      wamid: fixture.wamid,
      phoneNumberId: sandbox.phoneNumberId,
      from: fixture.from,
      fromKind: 'phone',
      contactName: fixture.name,
      type: fixture.type,
      text: fixture.text,
    });
    const contacts = await contactsList();
    expect(contacts).toEqual([
      expect.objectContaining({ channel: 'whatsapp', id: fixture.from, kind: 'phone', name: fixture.name, messages: 1 }),
    ]);
    await relay.stop();
  });

  it('signs with an independent HMAC over the exact bytes (the escaped reaction sample) and Meta-style headers', async () => {
    const relay = await startRelay(env);
    const body = fixtureFor('06-inbound-reaction-emoji-escaped.json', sandbox.phoneNumberId);
    // Computed here without lumen's code: HMAC-SHA256 of the raw bytes with the app secret
    const signature = `sha256=${createHmac('sha256', sandbox.appSecret).update(body).digest('hex')}`;
    expect(signature).toBe(signBody(body, sandbox.appSecret));

    const answer = await request(webhookUrl(relay.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature, 'user-agent': 'facebookexternalua' },
      body,
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ status: 'received', messages: 1 });
    const [message] = await messagesList();
    expect(message.text).toBe('[reaction] 😮 to wamid.yzxyzx=');
    expect(message.raw.reaction.emoji).toBe('😮');
    await relay.stop();
  });

  it('acknowledges status and template-status samples as ignored and stores no message', async () => {
    const relay = await startRelay(env);
    for (const file of ['12-status-sent.json', '13-status-failed.json', '14-template-status-update-rejected.json']) {
      const answer = await postSigned(webhookUrl(relay.url), fixtureFor(file, sandbox.phoneNumberId), sandbox.appSecret);
      expect(answer.status, file).toBe(200);
      expect(answer.json, file).toEqual({ status: 'ignored' });
    }
    expect(await messagesList()).toEqual([]);
    expect(await contactsList()).toEqual([]);
    // The two statuses are kept (about a wamid lumen did not send: nothing else changes)
    await relay.stop();
    const statuses = withDb(home.dir, (db) => db.prepare('SELECT wamid, status FROM message_statuses ORDER BY status').all());
    expect(statuses).toEqual([
      { wamid: 'wamid.xyzxyz', status: 'failed' },
      { wamid: 'wamid.xyzxyz', status: 'sent' },
    ]);
  });
});

describe('lumen relay start: bad input gets a clear answer and stores nothing', () => {
  it('refuses unsigned, wrongly signed, tampered, malformed, truncated and oversized deliveries; acks what it must', async () => {
    // Given a running relay
    const relay = await startRelay(env);
    const url = webhookUrl(relay.url);
    const secret = sandbox.appSecret;
    const message = (tag: string) => textDelivery(sandbox.phoneNumberId, { wamid: newWamid(tag), from: '15551230001', body: tag });
    const answers: Array<[string, HttpAnswer]> = [];
    const send = async (label: string, body: Buffer, headers: Record<string, string>) => {
      const answer = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      answers.push([label, answer]);
      return answer;
    };

    // Unsigned
    const unsigned = await send('unsigned', message('unsigned'), {});
    expect(unsigned.status).toBe(401);
    expect(unsigned.json.error.code).toBe('signature_missing');
    // Signed with another secret
    const wrong = await send('wrong', message('wrong'), { 'x-hub-signature-256': signBody(message('x'), 'not-the-app-secret') });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe('signature_mismatch');
    // Tampered: one byte of the text changed after signing
    const original = message('tampered');
    const tampered = Buffer.from(original.toString().replace('"body":"tampered"', '"body":"tampereD"'));
    expect(tampered.equals(original)).toBe(false);
    const tamperedAnswer = await send('tampered', tampered, { 'x-hub-signature-256': signBody(original, secret) });
    expect(tamperedAnswer.status).toBe(401);
    expect(tamperedAnswer.json.error.code).toBe('signature_mismatch');
    // Malformed header
    const malformed = await send('malformed', message('malformed'), { 'x-hub-signature-256': 'sha256=zz' });
    expect(malformed.status).toBe(401);
    expect(malformed.json.error.message).toMatch(/Malformed/);
    // Truncated JSON, correctly signed
    const full = fixtureFor('01-inbound-text.json', sandbox.phoneNumberId);
    const truncated = full.subarray(0, Math.floor(full.length / 2));
    const truncatedAnswer = await send('truncated', truncated, { 'x-hub-signature-256': signBody(truncated, secret) });
    expect(truncatedAnswer.status).toBe(400);
    expect(truncatedAnswer.json.error.code).toBe('invalid_json');
    // Signed, but not JSON at all
    const notJson = Buffer.from('hello=world');
    expect((await send('not json', notJson, { 'x-hub-signature-256': signBody(notJson, secret) })).status).toBe(400);
    // Over 3 MiB, correctly signed
    const huge = textDelivery(sandbox.phoneNumberId, { wamid: newWamid('huge'), from: '15551230001', body: 'x'.repeat(3 * 1024 * 1024) });
    const hugeAnswer = await postAnnouncing(url, huge.length, { 'content-type': 'application/json', 'x-hub-signature-256': signBody(huge, secret) });
    answers.push(['huge', hugeAnswer]);
    expect(hugeAnswer.status).toBe(413);
    expect(hugeAnswer.json.error.code).toBe('body_too_large');
    // Valid JSON of the wrong shape, and unknown fields: acknowledged, nothing to store
    for (const shape of ['[]', '{"object":"page","entry":[]}', '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"brand_new_field","value":{"x":1}}]}]}']) {
      const body = Buffer.from(shape);
      const answer = await send(`shape ${shape}`, body, { 'x-hub-signature-256': signBody(body, secret) });
      expect(answer.status, shape).toBe(200);
      expect(answer.json, shape).toEqual({ status: 'ignored' });
    }
    // A delivery for a number that is not connected here
    const otherNumber = textDelivery('999000111222333', { wamid: newWamid('other'), from: '15551230001', body: 'not for us' });
    const otherAnswer = await send('other number', otherNumber, { 'x-hub-signature-256': signBody(otherNumber, secret) });
    expect(otherAnswer.status).toBe(200);
    expect(otherAnswer.json).toEqual({ status: 'ignored' });
    // The App Dashboard's "Test" button sample (phone_number_id 123456123), as it arrives and as the dashboard shows it
    const dashboardChange = messagesChange(
      '123456123',
      inbound([{ wamid: 'ABGGFlA5Fpa', from: '16315551181', name: 'test user name', body: 'this is a text message', timestamp: 1504902988 }]),
    );
    for (const sample of [delivery({ ...entry([dashboardChange], '0'), time: 1504902988 }), dashboardChange]) {
      const body = toBody(sample);
      const answer = await send('dashboard test', body, { 'x-hub-signature-256': signBody(body, secret) });
      expect(answer.status).toBe(200);
      expect(answer.json).toEqual({ status: 'ignored' });
    }
    // A POST to an integration that does not exist
    const unknownBody = message('unknown');
    const unknown = await request(webhookUrl(relay.url, 'wa_00000000000000000000000000000000'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(unknownBody, secret) },
      body: unknownBody,
    });
    expect(unknown.status).toBe(404);
    // Wrong content type, correctly signed JSON: the signature is what counts
    const plainWamid = newWamid('plain');
    const plain = textDelivery(sandbox.phoneNumberId, { wamid: plainWamid, from: '15551230002', body: 'sent as text/plain' });
    const plainAnswer = await send('text/plain', plain, { 'content-type': 'text/plain', 'x-hub-signature-256': signBody(plain, secret) });
    expect(plainAnswer.status).toBe(200);
    expect(plainAnswer.json).toEqual({ status: 'received', messages: 1 });

    // Then no 5xx anywhere, every error is JSON, and only the correctly signed message was stored
    for (const [label, answer] of answers) {
      expect(answer.status, label).toBeLessThan(500);
      if (answer.status >= 400) expect(answer.json?.error?.code, label).toEqual(expect.any(String));
    }
    const messages = await messagesList();
    expect(messages.map((m) => m.wamid)).toEqual([plainWamid]);
    expect((await contactsList()).map((c) => c.id)).toEqual(['15551230002']);
    // The relay is still up; once stopped (all its output read), it had printed a rejection for each refusal, and
    // no stack trace
    expect((await request(`${relay.url}/healthz`)).status).toBe(200);
    expect((await relay.stop()).exitCode).toBe(0);
    expect(relay.events.filter((e) => e.event === 'rejected').map((e) => e.status).sort()).toEqual(
      [400, 400, 401, 401, 401, 401, 404, 413].sort(),
    );
    // Deliveries for other numbers are logged as ignored, with the number, so a misrouted webhook can be spotted
    const ignoredNumbers = relay.events.filter((e) => e.event === 'ignored' && e.reason === 'unknown_phone_number').map((e) => e.phoneNumberId);
    expect(ignoredNumbers).toEqual(expect.arrayContaining(['999000111222333', '123456123']));
    expect(relay.stderr()).not.toMatch(/\n\s+at /);
    expect(relay.events.some((e) => e.event === '__not_json__')).toBe(false);
  });
});

describe('lumen relay start: batching and redelivery', () => {
  it('processes every entry, change, message and status of one batched POST', async () => {
    // Given a delivery with 2 entries, mixing messages and statuses, as Meta batches them
    const relay = await startRelay(env);
    const m = Array.from({ length: 5 }, (_, i) => ({
      wamid: newWamid(`batch${i}`),
      from: `1555100000${i % 3}`,
      body: `batched ${i}`,
      name: `Person ${i % 3}`,
    }));
    const body = toBody(
      delivery(
        entry([
          messagesChange(sandbox.phoneNumberId, inbound([m[0]!, m[1]!], [{ wamid: 'wamid.out1', status: 'sent', recipient: '15551000000' }])),
          messagesChange(sandbox.phoneNumberId, inbound([], [{ wamid: 'wamid.out1', status: 'delivered', recipient: '15551000000' }])),
        ]),
        entry([messagesChange(sandbox.phoneNumberId, inbound([m[2]!, m[3]!, m[4]!], [{ wamid: 'wamid.out2', status: 'read', recipient: '15551000001' }]))]),
      ),
    );

    // When it arrives
    const answer = await postSigned(webhookUrl(relay.url), body, sandbox.appSecret);

    // Then all five messages are received and stored, and the three statuses kept
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ status: 'received', messages: 5 });
    const messages = await messagesList();
    expect(messages.map((x) => x.wamid).sort()).toEqual(m.map((x) => x.wamid).sort());
    for (const spec of m) {
      expect(messages.find((x) => x.wamid === spec.wamid)).toMatchObject({ from: spec.from, type: 'text', text: spec.body });
    }
    const contacts = await contactsList();
    expect(Object.fromEntries(contacts.map((c) => [c.id, c.messages]))).toEqual({
      '15551000000': 2,
      '15551000001': 2,
      '15551000002': 1,
    });
    expect(contacts.every((c) => c.windowOpen === true)).toBe(true);
    await relay.stop();
    expect(withDb(home.dir, (db) => db.prepare('SELECT COUNT(*) AS n FROM message_statuses').get())).toEqual({ n: 3 });
  });

  it('stores and forwards a redelivered message once', async () => {
    // Given a relay forwarding to the user's code
    const hook = await target();
    const relay = await startRelay(env, ['--forward-to', hook.url]);
    const body = fixtureFor('16-meta-docs-inbound-text.json', sandbox.phoneNumberId);

    // When Meta delivers the same body again, and twice more at once
    const first = await postSigned(webhookUrl(relay.url), body, sandbox.appSecret);
    await relay.waitForEvent((e) => e.event === 'dispatch' && e.ok === true);
    const again = await Promise.all([
      postSigned(webhookUrl(relay.url), body, sandbox.appSecret),
      postSigned(webhookUrl(relay.url), body, sandbox.appSecret),
    ]);

    // Then every delivery is acknowledged, but it is stored once and dispatched once
    for (const answer of [first, ...again]) expect(answer.json).toEqual({ status: 'received', messages: 1 });
    await eventually(() =>
      expect(relay.events.filter((e) => e.event === 'message' && e.duplicate === true)).toHaveLength(2),
    );
    // A second dispatch, had the copies queued one, would be due before this later message's: once the later one is
    // delivered and the relay has stopped (which waits for deliveries under way), it would have reached the target.
    const later = newWamid('later');
    await postSigned(webhookUrl(relay.url), textDelivery(sandbox.phoneNumberId, { wamid: later, from: '15557000001', body: 'later' }), sandbox.appSecret);
    const laterStored = await relay.waitForEvent((e) => e.event === 'message' && e.wamid === later);
    await relay.waitForEvent((e) => e.event === 'dispatch' && e.ok === true && e.interactionId === laterStored.interactionId);
    expect((await relay.stop()).exitCode).toBe(0);
    expect(hook.requests.map((r) => JSON.parse(r.body).wamid)).toEqual([
      'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
      later,
    ]);
    const forwarded = JSON.parse(hook.requests[0]!.body);
    expect(forwarded).toMatchObject({
      object: 'interaction',
      channel: 'whatsapp',
      wamid: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
      from: '16505551234',
      type: 'text',
      text: 'Does it come in another color?',
    });
    expect(await messagesList()).toHaveLength(2);
    const events = await eventsList();
    expect(events.find((e) => e.interactionId === forwarded.id)).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(events).toHaveLength(2);
  });
});

describe('lumen relay start: statuses of sent messages', () => {
  it('moves an auto-reply to read and never back when its statuses arrive out of order', async () => {
    // Given a relay that auto-replies through the sandbox
    const relay = await startRelay(env, ['--auto-reply', 'Thanks']);
    const inbound = newWamid('hello');
    await postSigned(
      webhookUrl(relay.url),
      textDelivery(sandbox.phoneNumberId, { wamid: inbound, from: '15551234567', body: 'hello there' }),
      sandbox.appSecret,
    );
    const replied = await relay.waitForEvent((e) => e.event === 'auto_reply');
    expect(replied).toMatchObject({ ok: true, to: '15551234567' });
    const [sent] = sandbox.sent('15551234567');
    expect(sent?.body).toMatchObject({ to: '15551234567', type: 'text', text: { body: 'Thanks' } });
    expect(sent?.outcome.result).toBe('accepted');
    const wamid = sent!.outcome.result === 'accepted' ? sent!.outcome.wamid : '';
    expect(replied.wamid).toBe(wamid);
    const stateOf = () =>
      withDb(home.dir, (db) =>
        db.prepare<[string], { state: string }>('SELECT state FROM outbound_messages WHERE wamid = ?').get(wamid)?.state,
      );
    await eventually(() => expect(stateOf()).toBe('accepted'));

    // When Meta's statuses arrive as read, then delivered, then sent
    for (const [status, expected] of [
      ['read', 'read'],
      ['delivered', 'read'],
      ['sent', 'read'],
    ] as const) {
      const answer = await postSigned(
        webhookUrl(relay.url),
        statusDelivery(sandbox.phoneNumberId, { wamid, status, recipient: '15551234567' }),
        sandbox.appSecret,
      );
      expect(answer.json).toEqual({ status: 'ignored' });
      // Then the message is read from the first one on, whatever comes after
      expect(stateOf(), `after ${status}`).toBe(expected);
    }
    const statuses = withDb(home.dir, (db) => db.prepare('SELECT status FROM message_statuses WHERE wamid = ? ORDER BY status').all(wamid));
    expect(statuses).toEqual([{ status: 'delivered' }, { status: 'read' }, { status: 'sent' }]);
    // Only one reply: the status deliveries are not messages
    expect(sandbox.sent()).toHaveLength(1);
    await relay.stop();
  });
});

describe('lumen relay start: auto-replies and the approval policy', () => {
  it('holds auto-replies for approval under policy "all", and sends one once approved', async () => {
    // Given a workspace that must approve every message
    await lumenJson(['approvals', 'policy', 'all']);
    const relay = await startRelay(env, ['--auto-reply', 'Thanks']);
    // When a customer writes
    await postSigned(
      webhookUrl(relay.url),
      textDelivery(sandbox.phoneNumberId, { wamid: newWamid('held'), from: '15551234567', body: 'hello' }),
      sandbox.appSecret,
    );
    // Then the reply waits for approval instead of going out
    const held = await relay.waitForEvent((e) => e.event === 'auto_reply');
    expect(held).toMatchObject({ ok: true, pendingApproval: expect.stringMatching(/^msg_/) });
    expect(sandbox.sent()).toEqual([]);
    const pending = await lumenJson(['approvals', 'list']);
    expect(pending).toMatchObject([{ id: held.pendingApproval, to: '15551234567', source: 'auto_reply' }]);
    // And approving it sends it
    await lumenJson(['approvals', 'approve', held.pendingApproval]);
    expect(sandbox.sent('15551234567')).toHaveLength(1);
    await relay.stop();
  });
});

describe('lumen relay start: handing messages to the user code', () => {
  it('retries a forward target that is down until it is up: each message arrives once, signed', async () => {
    // Given the user's endpoint fails its first two requests, then works
    const hook = await target((index) => (index < 2 ? 500 : 200));
    const relay = await startRelay(env, ['--forward-to', hook.url]);
    const secret = await readSigningSecret(home.dir);
    expect(secret).toMatch(/^whsec_/);

    // When three messages arrive
    const startedSeconds = Math.floor(Date.now() / 1000);
    const wamids = [newWamid('a'), newWamid('b'), newWamid('c')];
    for (const [i, wamid] of wamids.entries()) {
      const answer = await postSigned(
        webhookUrl(relay.url),
        textDelivery(sandbox.phoneNumberId, { wamid, from: `1555200000${i}`, body: `message ${i}` }),
        sandbox.appSecret,
      );
      expect(answer.json).toEqual({ status: 'received', messages: 1 });
    }

    // Then after the backoff every message has been accepted, and once the relay has stopped (it waits for the
    // deliveries under way) nothing more was sent: the two failures and one success each
    await eventually(() => expect(hook.accepted()).toHaveLength(3));
    expect((await relay.stop()).exitCode).toBe(0);
    expect(hook.requests).toHaveLength(5);
    const accepted = hook.accepted().map((r) => ({ r, json: JSON.parse(r.body) }));
    expect(accepted.map((a) => a.json.wamid).sort()).toEqual([...wamids].sort());
    const nowSeconds = Math.ceil(Date.now() / 1000);
    for (const { r, json } of accepted) {
      expect(lumenSignatureValid(r.headers['lumen-signature'], r.body, secret!)).toBe(true);
      expect(lumenSignatureValid(r.headers['lumen-signature'], r.body, 'whsec_wrong')).toBe(false);
      // The signed timestamp is the time of the delivery, in seconds
      const t = Number(/t=(\d+)/.exec(String(r.headers['lumen-signature']))![1]);
      expect(t).toBeGreaterThanOrEqual(startedSeconds);
      expect(t).toBeLessThanOrEqual(nowSeconds);
      expect(r.headers['lumen-event-id']).toBe(json.id);
      expect(r.headers['content-type']).toBe('application/json');
    }
    // The failed attempts were signed too: the same interactions, retried
    for (const r of hook.requests) expect(lumenSignatureValid(r.headers['lumen-signature'], r.body, secret!)).toBe(true);
    const events = await eventsList();
    expect(events).toHaveLength(3);
    expect(events.every((e) => e.state === 'delivered' && e.lastStatus === 200)).toBe(true);
    expect(events.reduce((sum, e) => sum + e.attempts, 0)).toBe(5);
    expect(await eventsList(true)).toEqual([]);
  });

  it('keeps retrying a failing --exec command and keeps answering 200 meanwhile', async () => {
    // Given a handler that always fails
    const relay = await startRelay(env, ['--exec', "sh -c 'echo handler exploded >&2; exit 3'"]);

    // When a message arrives
    const first = newWamid('exec1');
    const answer = await postSigned(
      webhookUrl(relay.url),
      textDelivery(sandbox.phoneNumberId, { wamid: first, from: '15553000001', body: 'first' }),
      sandbox.appSecret,
    );
    expect(answer.json).toEqual({ status: 'received', messages: 1 });
    const failure = await relay.waitForEvent((e) => e.event === 'dispatch' && e.ok === false);
    expect(failure.error).toMatch(/exit code 3/);

    // Then the user sees it being retried with the error
    const failing = await eventsList(true);
    expect(failing).toEqual([
      expect.objectContaining({ state: 'retrying', attempts: expect.any(Number), lastStatus: 3, lastError: expect.stringMatching(/exit code 3: handler exploded/) }),
    ]);
    expect(failing[0].attempts).toBeGreaterThanOrEqual(1);

    // And ingress is not blocked: while the first is being retried, another message is acknowledged and stored
    const second = await postSigned(
      webhookUrl(relay.url),
      textDelivery(sandbox.phoneNumberId, { wamid: newWamid('exec2'), from: '15553000002', body: 'second' }),
      sandbox.appSecret,
    );
    expect(second.status).toBe(200);
    expect(second.json).toEqual({ status: 'received', messages: 1 });
    expect(await messagesList()).toHaveLength(2);
    await eventually(async () => expect(await eventsList(true)).toHaveLength(2), undefined, 300);
    // It is retried, never dropped
    await relay.waitForEvent((e) => e.event === 'dispatch' && e.ok === false && e.attempt >= 2);
    expect((await relay.stop()).exitCode).toBe(0);
  });

  it('delivers what was queued before a restart once the target is up', async () => {
    // Given a relay whose forward target is down (nothing listens on its port)
    const port = await freePort();
    const hookUrl = `http://127.0.0.1:${port}/hook`;
    const relay = await startRelay(env, ['--forward-to', hookUrl]);
    const wamid = newWamid('queued');
    const answer = await postSigned(
      webhookUrl(relay.url),
      textDelivery(sandbox.phoneNumberId, { wamid, from: '15554000001', body: 'are you there?' }),
      sandbox.appSecret,
    );
    expect(answer.json).toEqual({ status: 'received', messages: 1 });
    const failure = await relay.waitForEvent((e) => e.event === 'dispatch' && e.ok === false);
    expect(failure.error).toMatch(/ECONNREFUSED/);

    // When the relay is stopped with the delivery still queued
    expect((await relay.stop()).exitCode).toBe(0);
    const queued = await eventsList(true);
    expect(queued).toEqual([expect.objectContaining({ state: 'retrying', lastError: expect.stringMatching(/ECONNREFUSED/) })]);

    // And the target comes up, and the relay is started again (human output this time)
    const hook = await target(() => 200, port);
    const restarted = await startRelay(env, ['--forward-to', hookUrl], { json: false });

    // Then the queued message is delivered, signed with the secret the banner prints (the stored one), and once the
    // relay has stopped (waiting for deliveries under way) it had been delivered once
    await restarted.waitForLine(/→ forwarded 200 in \d+ ms/);
    expect((await restarted.stop()).exitCode).toBe(0);
    expect(restarted.lines.join('\n') + restarted.stderr()).toContain('Relay stopped');
    expect(hook.requests).toHaveLength(1);
    const secret = await readSigningSecret(home.dir);
    expect(restarted.lines.join('\n')).toContain(`signed with ${secret}`);
    const [received] = hook.requests;
    expect(JSON.parse(received!.body)).toMatchObject({ wamid, text: 'are you there?', channel: 'whatsapp' });
    expect(lumenSignatureValid(received!.headers['lumen-signature'], received!.body, secret!)).toBe(true);
    expect(await eventsList()).toEqual([expect.objectContaining({ state: 'delivered', attempts: expect.any(Number) })]);
  });
});

describe('lumen relay start: stopping', () => {
  it('finishes the requests in flight on SIGTERM: every 200 is stored, and it exits 0', async () => {
    // Given a relay receiving a steady stream of deliveries, and one delivery whose body is only half sent
    const relay = await startRelay(env);
    const slowWamid = newWamid('slow');
    const slowBody = textDelivery(sandbox.phoneNumberId, { wamid: slowWamid, from: '15555000002', body: 'still uploading' });
    const slow = startSlowPost(webhookUrl(relay.url), slowBody, {
      'content-type': 'application/json',
      'x-hub-signature-256': signBody(slowBody, sandbox.appSecret),
    });
    const wamids = Array.from({ length: 120 }, (_, i) => newWamid(`graceful${i}`));
    const acked: string[] = [];
    const outcomes: Array<number | 'network error'> = [];
    let stopping: Promise<RelayExit> | undefined;

    // When SIGTERM arrives on the 30th acknowledgment, with the other requests in flight
    await inPool(wamids, 8, async (wamid) => {
      try {
        const answer = await postSigned(
          webhookUrl(relay.url),
          textDelivery(sandbox.phoneNumberId, { wamid, from: '15555000001', body: wamid }),
          sandbox.appSecret,
        );
        outcomes.push(answer.status);
        if (answer.status === 200) acked.push(wamid);
      } catch {
        outcomes.push('network error');
      }
      if (acked.length >= 30 && !stopping) stopping = relay.stop();
    });
    expect(stopping).toBeDefined();
    await relay.waitForEvent((e) => e.event === 'stopping');
    // and the half-sent delivery completes only after the relay began stopping
    const slowAnswer = await slow.finish();
    const exit = await stopping!;

    // Then that delivery is answered and stored, the relay says it stopped, exits 0, and every 200 is in the database
    expect(slowAnswer.status).toBe(200);
    expect(slowAnswer.json).toEqual({ status: 'received', messages: 1 });
    expect(exit).toEqual({ exitCode: 0, signal: undefined });
    expect(relay.events.find((e) => e.event === 'stopping')).toEqual({ event: 'stopping', signal: 'SIGTERM' });
    expect(relay.events.at(-1)).toEqual({ event: 'stopped' });
    // A request either got its 200, a 503 while closing, or found the port closed: nothing else
    for (const outcome of outcomes) expect([200, 503, 'network error']).toContain(outcome);
    const stored = new Set(withDb(home.dir, (db) => db.prepare('SELECT wamid FROM interactions').pluck().all() as string[]));
    for (const wamid of [...acked, slowWamid]) expect(stored.has(wamid), wamid).toBe(true);
    expect((await messagesList(1000)).length).toBe(stored.size);
  });

  it('loses no acknowledged delivery when killed with SIGKILL mid-stream', async () => {
    // Given a relay receiving 200 unique messages, 8 at a time
    const relay = await startRelay(env);
    const wamids = Array.from({ length: 200 }, (_, i) => newWamid(`kill${i}`));
    const acked: string[] = [];
    let killed: Promise<unknown> | undefined;

    // When it is killed -9 on the 80th acknowledgment, with the other requests in flight
    await inPool(wamids, 8, async (wamid) => {
      if (killed) return;
      try {
        const answer = await postSigned(
          webhookUrl(relay.url),
          textDelivery(sandbox.phoneNumberId, { wamid, from: '15556000001', body: wamid }),
          sandbox.appSecret,
        );
        if (answer.status === 200) acked.push(wamid);
      } catch {
        // the connection died with the process: not acknowledged, Meta would retry it
      }
      if (acked.length >= 80 && !killed) killed = relay.kill();
    });
    expect(await killed).toEqual({ exitCode: undefined, signal: 'SIGKILL' });

    // Then every delivery that got a 200 is in the database (read as left on disk, WAL included), once
    const rows = withDb(home.dir, (db) =>
      db.prepare<[], { wamid: string; n: number }>('SELECT wamid, COUNT(*) AS n FROM interactions GROUP BY wamid').all(),
    );
    const counts = new Map(rows.map((r) => [r.wamid, r.n]));
    for (const wamid of acked) expect(counts.get(wamid), wamid).toBe(1);
    expect([...counts.keys()].every((w) => wamids.includes(w))).toBe(true);
    // And the CLI agrees, and knows the relay is gone although its state file remains
    expect((await messagesList(1000)).length).toBe(rows.length);
    const status = await runLumen(['relay', 'status', '--json'], { env });
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual({ running: false });
  });
});

describe('lumen relay status', () => {
  it('reports the running relay and its URL, and {"running":false} with exit 0 once it is stopped (a state, not a failure)', async () => {
    // Given no relay
    const before = await runLumen(['relay', 'status', '--json'], { env });
    expect(before.exitCode).toBe(0);
    expect(JSON.parse(before.stdout)).toEqual({ running: false });
    const human = await lumen(['relay', 'status'], { env });
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain('No relay is running here');

    // When one runs
    const relay = await startRelay(env);
    const running = await runLumen(['relay', 'status', '--json'], { env });
    expect(running.exitCode).toBe(0);
    expect(JSON.parse(running.stdout)).toMatchObject({ running: true, pid: relay.pid, url: relay.url, publicUrl: null });

    // Then after it stops, status says so
    expect((await relay.stop()).exitCode).toBe(0);
    const after = await runLumen(['relay', 'status', '--json'], { env });
    expect(after.exitCode).toBe(0);
    expect(JSON.parse(after.stdout)).toEqual({ running: false });
  });
});

describe('one relay per LUMEN_HOME', () => {
  it('refuses a second relay on the same home (it would hand messages on twice) and leaves the first in charge', async () => {
    // Given a running relay
    const first = await startRelay(env);
    // When a second one starts on the same LUMEN_HOME
    const second = await lumen(['relay', 'start', '--port', '0', '--json'], { env });
    // Then it refuses, naming the first, and status still points at the first
    expect(second.exitCode).toBe(1);
    const error = JSON.parse(second.stdout).error;
    expect(error.code).toBe('relay_running');
    expect(error.message).toContain(`pid ${first.pid}`);
    const status = await lumenJson(['relay', 'status']);
    expect(status).toMatchObject({ pid: first.pid, url: first.url });
  });
});
