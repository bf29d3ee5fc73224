/**
 * `lumen relay start` end to end, ingress: the built CLI as a child process on a real port, the sandbox as the Graph
 * API, a fresh LUMEN_HOME (file secret store) per test. What is asserted is what a user would check: HTTP answers,
 * what `lumen messages|events|contacts list --json` show (run in process), and the database on disk. The handshake,
 * the public webhook samples, bad input, batching and redelivery. (Delivery to the user's code, and stopping, are in
 * relay-cli-delivery and relay-cli-lifecycle: three files, so they run side by side.)
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signBody } from '../../src/relay/signature.js';
import { eventually } from '../helpers/async.js';
import { withDb } from '../helpers/home.js';
import { postSigned, postAnnouncing, request, startRelay, type HttpAnswer } from '../helpers/relay.js';
import { runLumen } from '../helpers/cli.js';
import {
  connection,
  contactsList,
  env,
  eventsList,
  home,
  messagesList,
  newWamid,
  sandbox,
  target,
  useRelayHome,
  webhookUrl,
} from '../helpers/relay-home.js';
import { delivery, entry, fixtureFor, inbound, messagesChange, textDelivery, toBody } from '../helpers/webhooks.js';

useRelayHome();

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

    // A wrong token is refused
    const wrong = await request(webhookUrl(relay.url) + query('lvt_not-the-token'));
    expect(wrong.status).toBe(403);
    expect(wrong.json.error.code).toBe('verify_token_mismatch');
    // The right one in what is not a handshake (no hub.mode=subscribe, no challenge) is a bad request, not a wrong token
    const token = encodeURIComponent(connection.verifyToken);
    for (const notHandshake of [
      `?hub.verify_token=${token}&hub.challenge=1`,
      `?hub.mode=unsubscribe&hub.verify_token=${token}&hub.challenge=1`,
      `?hub.mode=subscribe&hub.verify_token=${token}`,
    ]) {
      const answer = await request(webhookUrl(relay.url) + notHandshake);
      expect(answer.status, notHandshake).toBe(400);
      expect(answer.json.error.code).toBe('not_a_handshake');
    }

    // An integration id that does not exist is not found
    const unknown = await request(webhookUrl(relay.url, 'wa_00000000000000000000000000000000') + query(connection.verifyToken));
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('unknown_integration');

    // Once it has stopped (all its output read): one handshake event each, and the verify token never logged
    expect((await relay.stop()).exitCode).toBe(0);
    expect(relay.events.filter((e) => e.event === 'handshake').map((e) => e.ok)).toEqual([true, false]);
    expect(relay.events.filter((e) => e.event === 'rejected' && e.status === 400)).toHaveLength(3);
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

  it('takes a message repeated within one delivery as that one message: stored, counted and reported once', async () => {
    // Given a delivery that holds one message twice (in two changes) and another once
    const relay = await startRelay(env);
    const twice = { wamid: newWamid('twice'), from: '15551000009', body: 'said twice' };
    const once = { wamid: newWamid('once'), from: '15551000009', body: 'said once' };
    const body = toBody(
      delivery(
        entry([
          messagesChange(sandbox.phoneNumberId, inbound([twice, once])),
          messagesChange(sandbox.phoneNumberId, inbound([twice])),
        ]),
      ),
    );
    // When it arrives
    const answer = await postSigned(webhookUrl(relay.url), body, sandbox.appSecret);
    // Then it counts two messages, each reported once as new, and stores two
    expect(answer.json).toEqual({ status: 'received', messages: 2 });
    await relay.waitForEvent((e) => e.event === 'message' && e.wamid === once.wamid);
    expect((await relay.stop()).exitCode).toBe(0);
    const reported = relay.events.filter((e) => e.event === 'message');
    expect(reported.map((e) => [e.wamid, e.duplicate])).toEqual([
      [twice.wamid, false],
      [once.wamid, false],
    ]);
    expect((await messagesList()).map((m) => m.wamid).sort()).toEqual([twice.wamid, once.wamid].sort());
    expect((await contactsList()).find((c) => c.id === twice.from)).toMatchObject({ messages: 2 });
  });

  it('dates a message whose timestamp is missing or impossible (1970, next year) when it arrived, so its window is right', async () => {
    // Given messages whose timestamps Meta would never send
    const relay = await startRelay(env);
    const nextYear = String(Math.floor(Date.now() / 1000) + 300 * 86_400);
    const specs = ['soon', '99999999999999999999', '-5', nextYear].map((timestamp, i) => ({
      wamid: newWamid(`when${i}`),
      from: `1555200000${i}`,
      body: `sent at ${timestamp}`,
      timestamp,
    }));
    const before = new Date();
    // When they arrive
    const answer = await postSigned(webhookUrl(relay.url), toBody(delivery(entry([messagesChange(sandbox.phoneNumberId, inbound(specs))]))), sandbox.appSecret);
    const after = new Date();
    expect(answer.json).toEqual({ status: 'received', messages: 4 });
    expect((await relay.stop()).exitCode).toBe(0);
    // Then each is dated between the request and its answer, not 1970, and its sender can be answered
    for (const message of await messagesList()) {
      const at = new Date(message.timestamp).getTime();
      expect(at).toBeGreaterThanOrEqual(before.getTime());
      expect(at).toBeLessThanOrEqual(after.getTime());
    }
    // (next year's would have held the window open for 300 days)
    expect((await contactsList()).map((c) => [c.windowOpen, Date.parse(c.windowClosesAt) <= after.getTime() + 86_400_000])).toEqual(
      Array.from({ length: 4 }, () => [true, true]),
    );
  });

  it('prints at most 4,096 characters of a message on its event line; the store keeps all of it', async () => {
    // Given a message far longer than WhatsApp allows, ending in an emoji split across the cut
    const relay = await startRelay(env);
    const text = `${'x'.repeat(4095)}😀${'y'.repeat(500_000)}`;
    const wamid = newWamid('long');
    // When it arrives
    await postSigned(webhookUrl(relay.url), textDelivery(sandbox.phoneNumberId, { wamid, from: '15552000009', body: text }), sandbox.appSecret);
    const event = await relay.waitForEvent((e) => e.event === 'message' && e.wamid === wamid);
    expect((await relay.stop()).exitCode).toBe(0);
    // Then the event holds the start of it (no half emoji), and `messages list` all of it
    expect(event.text).toBe(`${'x'.repeat(4095)}…`);
    expect((await messagesList()).find((m) => m.wamid === wamid)?.text).toBe(text);
  });

  it('shows a message whose text and sender name hold terminal escapes with them escaped (messages show, list)', async () => {
    // Given a message that would retitle the terminal, clear it and turn it red
    const relay = await startRelay(env);
    const wamid = newWamid('evil');
    const body = 'evil\u001b]0;pwned\u0007\u001b[2J\nsecond line \u202eexe.txt';
    await postSigned(webhookUrl(relay.url), textDelivery(sandbox.phoneNumberId, { wamid, from: '15552000010', body, name: 'N\u001b[31m' }), sandbox.appSecret);
    await relay.waitForEvent((e) => e.event === 'message' && e.wamid === wamid);
    expect((await relay.stop()).exitCode).toBe(0);
    const { id } = (await messagesList()).find((m) => m.wamid === wamid);
    // When it is shown to a person
    for (const args of [['messages', 'show', id], ['messages', 'list']]) {
      const shown = await runLumen(args, { env });
      // Then no control character reaches the terminal: each is a visible escape
      expect(shown.exitCode).toBe(0);
      expect(shown.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u202e]/);
      expect(shown.stdout).toContain('evil\\u001b]0;pwned\\u0007\\u001b[2J');
      expect(shown.stdout).toContain('N\\u001b[31m');
      if (args[1] === 'show') expect(shown.stdout).toContain('\\u001b[2J\\u000asecond line \\u202eexe.txt');
    }
  });

  it.each([
    [['relay', 'start', '--port', '0', '--auto-reply', ''], /^Error: --auto-reply "" would reply with nothing/],
    [['relay', 'start', '--port', '0', '--exec', ' '], /^Error: --exec "" would run nothing/],
    [['trigger', 'message', '--url', 'notaurl'], /^Error: --url must be a full http\(s\) URL/],
    [['trigger', 'status', '--wamid', 'wamid.x', '--error-code', 'abc'], /^Error: --error-code must be Meta's numeric error code/],
    [['events', 'drop', '1e3'], /^Error: Event id must be a number \(or ev_N, raw_N\) from `lumen events list`; got "1e3"\./],
    [['events', 'replay', 'evt_12x'], /^Error: Event id must be a number/],
    [['backup', ''], /^Error: Name the backup file/],
  ])('refuses %j as a usage error (exit 2), before doing anything', async (args, message) => {
    const result = await runLumen(args, { env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
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
