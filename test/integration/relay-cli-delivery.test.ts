/**
 * `lumen relay start` end to end, what happens after a message is stored: the statuses of sent messages,
 * auto-replies under the approval policy, and handing messages to the user's code (--forward-to, --exec), with
 * retries across a restart. The built CLI as a child process, a fresh LUMEN_HOME per test (see relay-home.ts).
 */
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/async.js';
import { withDb } from '../helpers/home.js';
import { runLumen } from '../helpers/cli.js';
import { freePort, lumenSignatureValid, postSigned, readSigningSecret, startRelay } from '../helpers/relay.js';
import {
  env,
  eventsList,
  home,
  lumenJson,
  messagesList,
  newWamid,
  sandbox,
  target,
  useRelayHome,
  webhookUrl,
} from '../helpers/relay-home.js';
import { statusDelivery, textDelivery } from '../helpers/webhooks.js';

useRelayHome();

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
    const relay = await startRelay(env, ['--exec', "sh -c 'echo Traceback: line one >&2; echo handler exploded >&2; echo partial; exit 3'"]);

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
    // What the failing command printed is shown whole, with the message's id (the error keeps its last line only)
    const printed = await relay.waitForEvent((e) => e.event === 'handler_output' && e.text === 'handler exploded');
    expect(relay.events.filter((e) => e.event === 'handler_output' && e.interactionId === printed.interactionId).slice(0, 3).map((e) => [e.stream, e.text])).toEqual(
      expect.arrayContaining([['stderr', 'Traceback: line one'], ['stderr', 'handler exploded'], ['stdout', 'partial']]),
    );

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

  it('events replay --exec runs the command as the relay would: its local API, its output shown, its reply sent once', async () => {
    // Given a message whose handler failed while a relay runs
    const relay = await startRelay(env, ['--exec', 'exit 3']);
    const from = '15553000021';
    await postSigned(
      webhookUrl(relay.url),
      textDelivery(sandbox.phoneNumberId, { wamid: newWamid('replay'), from, body: 'where is my order?' }),
      sandbox.appSecret,
    );
    await relay.waitForEvent((e) => e.event === 'dispatch' && e.ok === false);
    const [event] = await eventsList(true);

    // When it is replayed to a command that says where it runs and answers with a reply
    const askApi = `fetch(process.env.LUMEN_API_URL + '/v1/messages/msg_none', { headers: { authorization: 'Bearer ' + process.env.LUMEN_API_KEY } }).then((r) => console.error('api=' + process.env.LUMEN_API_URL + ' answered ' + r.status))`;
    const handler = `cat > /dev/null; node -e "${askApi}"; echo '{"reply":{"text":"It ships today."}}'`;
    const replayed = await runLumen(['events', 'replay', String(event.id), '--exec', handler], { env });

    // Then the command had the running relay's local API, its stderr is shown, and its reply was sent
    expect(replayed.exitCode, replayed.stdout + replayed.stderr).toBe(0);
    expect(replayed.stdout).toMatch(/^Delivered event \d+ to /);
    // (the key is the relay's: a wrong one is answered 401, the right one finds no such message)
    expect(replayed.stdout).toContain(`stderr: api=${relay.url} answered 404`);
    expect(replayed.stdout).toMatch(/Replied: msg_\w+ \(wamid\./);
    expect(sandbox.sent(from).map((m) => m.body)).toEqual([expect.objectContaining({ to: from, type: 'text', text: expect.objectContaining({ body: 'It ships today.' }) })]);

    // And replaying it again answers nothing twice: the reply has the relay's idempotency key
    const again = await lumenJson(['events', 'replay', String(event.id), '--exec', handler]);
    expect(again).toMatchObject({ delivered: true, stdout: null, replies: [{ ok: true, alreadySent: true, id: expect.stringMatching(/^msg_/) }] });
    expect(again.stderr).toBe(`api=${relay.url} answered 404`);
    expect((await runLumen(['events', 'replay', String(event.id), '--exec', handler], { env })).stdout).toMatch(/Already replied: msg_\w+ .*not sent again/);
    expect(sandbox.sent(from)).toHaveLength(1);
    // A handler that answers differently now is told the message was answered (ok, exit 0), not of a key it never set
    const other = await runLumen(['events', 'replay', String(event.id), '--exec', `cat >/dev/null; echo '{"reply":{"text":"Another answer"}}'`], { env });
    expect(other.exitCode, other.stdout + other.stderr).toBe(0);
    expect(other.stdout).toMatch(/Already replied: msg_\w+ \(wamid\.[^)]+\), with another answer; not sent again\./);
    expect(other.stdout).not.toMatch(/idempotency/);
    expect(sandbox.sent(from)).toHaveLength(1);

    // And a relay started by an older lumen (its relay.json names no local API) is named, with what to do
    const { readFileSync, writeFileSync } = await import('node:fs');
    const stateFile = home.path('relay.json');
    const { localApiUrl: _, ...older } = JSON.parse(readFileSync(stateFile, 'utf8'));
    writeFileSync(stateFile, JSON.stringify(older));
    const fromOlder = await runLumen(['events', 'replay', String(event.id), '--exec', 'cat > /dev/null; echo plain output'], { env });
    expect(fromOlder.exitCode, fromOlder.stderr).toBe(0);
    expect(fromOlder.stdout).toMatch(/The running relay \(pid \d+\) was started by an older lumen and names no local API: .* Restart it \(lumen relay stop, then lumen relay start\)/);
    await relay.stop();

    // And with no relay running, the command runs all the same, and the user is told it had no local API
    const alone = await runLumen(['events', 'replay', String(event.id), '--exec', 'cat > /dev/null; echo plain output'], { env });
    expect(alone.exitCode, alone.stderr).toBe(0);
    expect(alone.stdout).toMatch(/stdout: plain output/);
    expect(alone.stdout).toMatch(/No running relay here offers its local API: the command had no LUMEN_API_URL/);
    const aloneJson = await lumenJson(['events', 'replay', String(event.id), '--exec', 'cat > /dev/null']);
    expect(aloneJson.localApiMissing).toMatch(/^No running relay here offers its local API/);
  });

  it('events replay waits its turn while the running relay is delivering that very event: the handler runs once at a time', async () => {
    // Given a relay whose handler is still working on a message (it goes on once the test says so)
    const { existsSync, writeFileSync } = await import('node:fs');
    const started = home.path('handler-started');
    const go = home.path('handler-go');
    const relay = await startRelay(env, ['--exec', `touch ${started}; while [ ! -f ${go} ]; do sleep 0.02; done; cat > /dev/null`]);
    await postSigned(
      webhookUrl(relay.url),
      textDelivery(sandbox.phoneNumberId, { wamid: newWamid('inflight'), from: '15553000031', body: 'in flight' }),
      sandbox.appSecret,
    );
    await eventually(() => expect(existsSync(started)).toBe(true));
    const [event] = await eventsList();

    // When the user replays it to another command meanwhile
    const ran = home.path('replay-ran');
    try {
      const busy = await runLumen(['events', 'replay', String(event.id), '--exec', `touch ${ran}; cat > /dev/null`], { env });

      // Then the replay refuses, and its command never ran
      expect(busy.exitCode).toBe(1);
      expect(busy.stderr.split('\n')[0]).toBe(`Error: Event ${event.id} is being delivered right now (by a running relay, or another replay); nothing was delivered here.`);
      expect(existsSync(ran)).toBe(false);
    } finally {
      // (The relay's handler ends even when an expectation above fails.)
      writeFileSync(go, '');
    }

    // And once the relay's delivery is done, the same replay runs
    await relay.waitForEvent((e) => e.event === 'dispatch' && e.ok === true);
    const replayed = await runLumen(['events', 'replay', String(event.id), '--exec', `touch ${ran}; cat > /dev/null`], { env });
    expect(replayed.exitCode, replayed.stderr).toBe(0);
    expect(existsSync(ran)).toBe(true);
    await relay.stop();
  });

  it('stops cleanly on SIGTERM while an --exec command is running (exit 0, not killed by the signal)', async () => {
    // Given a handler that is still working when the relay is told to stop
    const { existsSync } = await import('node:fs');
    const started = home.path('handler-started');
    const relay = await startRelay(env, ['--exec', `touch ${started}; sleep 2; cat > /dev/null`]);
    const answer = await postSigned(
      webhookUrl(relay.url),
      textDelivery(sandbox.phoneNumberId, { wamid: newWamid('busy'), from: '15553000009', body: 'busy' }),
      sandbox.appSecret,
    );
    expect(answer.status, answer.text).toBe(200);
    await eventually(() => expect(existsSync(started), JSON.stringify(relay.events.slice(-3))).toBe(true));
    // When it gets SIGTERM (the child clean-up's own signal handler is installed while a command runs)
    const exit = await relay.stop();
    // Then it finishes and exits 0, rather than being killed by its own signal
    expect(exit).toEqual({ exitCode: 0, signal: undefined });
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
    await restarted.waitForLine(/→ in_\d+ \(event \d+\) forwarded 200 in \d+ ms/);
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

/**
 * A Graph API in front of the sandbox that holds (never answers) the first message send whose body contains `hold`:
 * the relay waits on Meta there, for as long as the test likes.
 */
async function holdingGraph(hold: string): Promise<{ url: string; held: Promise<void>; close(): Promise<void> }> {
  let heldOne = false;
  let onHeld!: () => void;
  const held = new Promise<void>((resolve) => (onHeld = resolve));
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (!heldOne && req.method === 'POST' && /\/messages$/.test(req.url ?? '') && body.toString().includes(hold)) {
        heldOne = true;
        hanging.add(res);
        onHeld();
        return;
      }
      const upstream = httpRequest(`${sandbox.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('lumen relay start: replies across a kill', () => {
  it('a relay killed while sending the first of two replies leaves the second to the next relay; the first is never sent twice', async () => {
    // Given a relay whose handler answers with two messages, and a Graph API that holds the first send
    const graph = await holdingGraph('first answer');
    try {
      const handler = `cat >/dev/null; echo '{"messages":[{"text":"first answer"},{"text":"second answer"}]}'`;
      const relay = await startRelay({ ...env, LUMEN_GRAPH_URL: graph.url }, ['--exec', handler]);
      await postSigned(
        webhookUrl(relay.url),
        textDelivery(sandbox.phoneNumberId, { wamid: newWamid('kill'), from: '15557000001', body: 'two answers please' }),
        sandbox.appSecret,
      );
      // When it is killed while Meta has the first reply (the second is not in the outbox yet)
      await graph.held;
      await relay.kill();
      expect(await eventsList()).toEqual([expect.objectContaining({ state: 'delivered', attempts: 1 })]);

      // Then the next relay sends the second reply, once, without running the handler again; the first stays
      // "outcome unknown" (it may have reached Meta) and is not sent again
      const next = await startRelay(env, ['--exec', handler]);
      const second = await next.waitForEvent((e) => e.event === 'reply' && e.ok === true);
      expect(second).toMatchObject({ to: '15557000001', wamid: expect.stringMatching(/^wamid\./) });
      const first = await next.waitForEvent((e) => e.event === 'reply' && e.ok === false);
      expect(first.error).toMatch(/may or may not have reached Meta/);
      expect(sandbox.sent('15557000001').map((s) => (s.body as any).text?.body)).toEqual(['second answer']);
      expect((await next.stop()).exitCode).toBe(0);
      expect(next.events.filter((e) => e.event === 'dispatch')).toEqual([]);
      const outbox = withDb(home.dir, (db) => db.prepare("SELECT idempotency_key AS k, state FROM outbound_messages ORDER BY idempotency_key").all());
      expect(outbox).toEqual([
        { k: expect.stringMatching(/^reply:in_\d+:0$/), state: 'sending' },
        { k: expect.stringMatching(/^reply:in_\d+:1$/), state: 'accepted' },
      ]);
    } finally {
      await graph.close();
    }
  });

  it('a reply Meta refused before the kill is not sent again by the next relay: each reply of an answer is tried once', async () => {
    // Given a handler that answers with three messages; Meta refuses the first, and the second is held when the relay
    // is killed
    const graph = await holdingGraph('second answer');
    try {
      const from = '15557000002';
      sandbox.addFault({ to: from, code: 131026, times: 1 });
      const handler = `cat >/dev/null; echo '{"messages":[{"text":"first answer"},{"text":"second answer"},{"text":"third answer"}]}'`;
      const relay = await startRelay({ ...env, LUMEN_GRAPH_URL: graph.url }, ['--exec', handler]);
      await postSigned(webhookUrl(relay.url), textDelivery(sandbox.phoneNumberId, { wamid: newWamid('refused'), from, body: 'three answers please' }), sandbox.appSecret);
      const refused = await relay.waitForEvent((e) => e.event === 'reply' && e.ok === false);
      expect(refused.error).toMatch(/131026|undeliverable/i);
      await graph.held;
      await relay.kill();

      // When the next relay takes up what is left
      const next = await startRelay(env, ['--exec', handler]);
      await next.waitForEvent((e) => e.event === 'reply' && e.ok === true);

      // Then only the third answer is sent: the refused first one is not tried again (the sandbox would take it now)
      expect((await next.stop()).exitCode).toBe(0);
      expect(sandbox.sent(from).filter((s) => s.outcome.result === 'accepted').map((s) => (s.body as any).text?.body)).toEqual(['third answer']);
      const outbox = withDb(home.dir, (db) => db.prepare("SELECT idempotency_key AS k, state FROM outbound_messages ORDER BY idempotency_key").all());
      expect(outbox).toEqual([
        { k: expect.stringMatching(/:0$/), state: 'failed' },
        { k: expect.stringMatching(/:1$/), state: 'sending' },
        { k: expect.stringMatching(/:2$/), state: 'accepted' },
      ]);
    } finally {
      await graph.close();
    }
  });
});
