/**
 * lumen as a bot's gateway, in process: the real relay (startRelay on 127.0.0.1), a real SQLite file, the sandbox over
 * HTTP as the Graph API and as Meta's webhook sender, and a small forward target as the user's code. Inbound media
 * lands on disk, replies from the user's code and its calls to the local API reach Meta through the outbox, never
 * holding Meta's token.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/relay/events.js';
import { startRelay, type RelayHandle, type RelayOptions } from '../../src/relay/server.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import type { ServiceDeps } from '../../src/services/deps.js';
import type { Integration, Store } from '../../src/store/types.js';
import type { LumenHome } from '../helpers/home.js';
import { eventually } from '../helpers/async.js';
import { postAnnouncing, postSigned, stalledDelivery, startForwardTarget, type ForwardTarget } from '../helpers/relay.js';
import { delivery, entry, messagesChange, toBody } from '../helpers/webhooks.js';
import { connectedHome, sandboxServices, type ConnectedHome } from '../helpers/services.js';

const CUSTOMER = '15551234567';
const USER_ID = 'US.13491208655302741918';

let sandbox: SandboxHandle;
let connected: ConnectedHome;
let home: LumenHome;
let store: Store;
let integration: Integration;
let relay: RelayHandle | undefined;
let target: ForwardTarget | undefined;
let events: RelayEvent[];

/** Sees every request the sandbox answers (a test may act on one, e.g. expire the media URL it just issued). */
let onSandboxRequest: ((line: string) => void) | undefined;
beforeAll(async () => {
  sandbox = await startSandbox({ webhookDelayMs: 5, log: (line) => onSandboxRequest?.(line) });
});
afterAll(() => sandbox.close());
beforeEach(async () => {
  sandbox.reset();
  connected = await connectedHome(sandbox);
  ({ home, store, integration } = connected);
  events = [];
});
afterEach(async () => {
  onSandboxRequest = undefined;
  sandbox.setWebhookUrl(undefined);
  await relay?.close();
  relay = undefined;
  await target?.close();
  target = undefined;
  sandbox.setWebhookUrl(undefined);
  await connected.close();
});

function services(): ServiceDeps {
  return connected.services();
}

/** A relay for the sandbox's number; `deps` stand in for the clock, the store or the printer where a test needs it. */
async function start(
  options: Partial<RelayOptions> = {},
  deps: { now?: () => Date; store?: Store; onEvent?: (event: RelayEvent) => void } = {},
): Promise<RelayHandle> {
  relay = await startRelay(
    { ...services(), ...(deps.now ? { now: deps.now } : {}), ...(deps.store ? { store: deps.store } : {}), onEvent: deps.onEvent ?? ((event) => events.push(event)) },
    { host: '127.0.0.1', port: 0, mediaDir: home.path('media'), ...options },
  );
  sandbox.setWebhookUrl(`${relay.url}/webhooks/whatsapp/${integration.id}`);
  return relay;
}

const forwarded = () => (target?.accepted() ?? []).map((r) => JSON.parse(r.body));

/** The home's store, with `before` run as a download is about to be recorded (after its file was put in place). */
function beforeMarkStored(before: (file: { path: string }) => void): Store {
  return {
    ...store,
    media: {
      ...store.media,
      markStored: async (integrationId, mediaId, file, now) => {
        before(file);
        return store.media.markStored(integrationId, mediaId, file, now);
      },
    },
  };
}

/** The one message the forward target got (waits for it). */
async function oneForwarded(): Promise<any> {
  const [payload] = await eventually(() => {
    const all = forwarded();
    expect(all).toHaveLength(1);
    return all;
  }, 20_000);
  return payload;
}

describe('inbound media lands on disk', () => {
  it('an image is fetched after the 200, checked against its sha256, stored 0600 and forwarded with its path', async () => {
    target = await startForwardTarget();
    await start({ forwardTo: target.url });
    const bytes = Buffer.from('\x89PNG\r\n\x1a\n a tiny picture');
    sandbox.sendInbound([{ from: CUSTOMER, type: 'image', caption: 'my receipt', data: bytes, mimeType: 'image/png' }]);

    const payload = await oneForwarded();
    expect(payload.type).toBe('image');
    expect(payload.media).toMatchObject({ state: 'stored', mimeType: 'image/png', size: bytes.length, caption: 'my receipt' });
    expect(payload.media.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(payload.media.path).toBe(join(home.path('media'), `${payload.media.sha256}.png`));
    expect(readFileSync(payload.media.path)).toEqual(bytes);
    expect(statSync(payload.media.path).mode & 0o777).toBe(0o600);
    expect(payload.media.url).toBe(`${relay!.localApi!.url}/v1/media/${payload.media.id}`);

    // The relay's local API serves the stored file to the user's code (with the key), nobody else.
    const denied = await fetch(payload.media.url);
    expect(denied.status).toBe(401);
    const served = await fetch(payload.media.url, { headers: { authorization: `Bearer ${relay!.localApi!.key}` } });
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer())).toEqual(bytes);
  });

  it('a file removed while the relay stores it (a purge of an old message with the same bytes) is put back', async () => {
    target = await startForwardTarget();
    // The purge removes the file after the relay has put it in place and before its record is committed
    await start({ forwardTo: target.url }, { store: beforeMarkStored((file) => rmSync(file.path)) });
    const bytes = Buffer.from('\x89PNG\r\n\x1a\n the same picture');
    sandbox.sendInbound([{ from: CUSTOMER, type: 'image', data: bytes, mimeType: 'image/png' }]);

    const payload = await oneForwarded();
    expect(payload.media.state).toBe('stored');
    expect(readFileSync(payload.media.path)).toEqual(bytes);
    expect(statSync(payload.media.path).mode & 0o777).toBe(0o600);
    // Nothing is left beside it
    expect(readdirSync(home.path('media'))).toEqual([basename(payload.media.path)]);
  });

  it('a file that cannot be put back after its record is committed leaves the record stored, with a relay line', async () => {
    target = await startForwardTarget();
    // The file is removed before the commit, and so is the download it would be put back from
    const emptyMediaFolder = () => {
      for (const name of readdirSync(home.path('media'))) rmSync(join(home.path('media'), name));
    };
    await start({ forwardTo: target.url }, { store: beforeMarkStored(emptyMediaFolder) });
    sandbox.sendInbound([{ from: CUSTOMER, type: 'image', data: Buffer.from('a picture'), mimeType: 'image/png' }]);

    const payload = await oneForwarded();
    // Stored, never retried nor failed: `media get` fetches it again from Meta
    expect(payload.media.state).toBe('stored');
    expect(await store.media.find(integration.id, payload.media.id)).toMatchObject({ state: 'stored', attempts: 1 });
    expect(events).toContainEqual({ event: 'error', message: expect.stringMatching(/^Media \S+ is stored, but its file could not be put back in /) });
    expect(events.filter((e) => e.event === 'media').map((e) => e.ok)).toEqual([true]);
  });

  it('a file over --media-max-bytes asked of the local API is refused (422), and the relay stays up', async () => {
    target = await startForwardTarget();
    await start({ forwardTo: target.url, mediaMaxBytes: 10 });
    sandbox.sendInbound([{ from: CUSTOMER, type: 'document', data: Buffer.from('more than ten bytes of a document'), mimeType: 'application/pdf' }]);
    const payload = await oneForwarded();
    expect(payload.media.state).toBe('failed');
    const asked = await fetch(payload.media.url, { headers: { authorization: `Bearer ${relay!.localApi!.key}` } });
    expect(asked.status).toBe(422);
    expect(((await asked.json()) as { error: { code: string } }).error.code).toBe('media_too_large');
    // (the download's body, cut off, must not take the process with it)
    await new Promise((resolve) => setImmediate(resolve));
    expect((await fetch(`${relay!.url}/healthz`)).status).toBe(200);
  });

  it('a media id Meta does not know is given up at once (no eight retries), and the message handed on', async () => {
    target = await startForwardTarget();
    await start({ forwardTo: target.url });
    const image = { from: CUSTOMER, id: 'wamid.NOSUCHMEDIA', timestamp: '1767225600', type: 'image', image: { id: '987654321', mime_type: 'image/jpeg' } };
    const answer = await postSigned(
      `${relay!.url}/webhooks/whatsapp/${integration.id}`,
      toBody(delivery(entry([messagesChange(sandbox.phoneNumberId, { contacts: [{ profile: { name: 'Ana' }, wa_id: CUSTOMER }], messages: [image] })]))),
      sandbox.appSecret,
    );
    expect(answer.status).toBe(200);
    const payload = await oneForwarded();
    expect(payload.media).toMatchObject({ state: 'failed' });
    expect(events.filter((e) => e.event === 'media')).toEqual([expect.objectContaining({ ok: false, attempt: 1, retryAt: null })]);
  });

  it('the local API answers 404 for a media id that is not one (no Graph call)', async () => {
    await start();
    const asked = await fetch(`${relay!.localApi!.url}/v1/media/..%2F..%2Fetc%2Fpasswd`, { headers: { authorization: `Bearer ${relay!.localApi!.key}` } });
    expect(asked.status).toBe(404);
    expect(((await asked.json()) as { error: { code: string } }).error.code).toBe('media_not_found');
  });

  it('a download that fails 3 times keeps the message, is retried with backoff, and asks for a fresh url each time', async () => {
    target = await startForwardTarget();
    // The relay's clock is the test's: each retry comes due when the test moves time past its backoff.
    let offset = 0;
    const clock = () => new Date(Date.now() + offset);
    await start({ forwardTo: target.url }, { now: clock });
    sandbox.addMediaFault({ on: 'download', times: 3, status: 500 });
    sandbox.sendInbound([{ from: CUSTOMER, type: 'document', filename: 'contract.pdf' }]);
    // The message is stored at once, whatever happens to its file
    await eventually(async () => expect(await store.inbox.listInteractions({ workspaceId: integration.workspaceId, limit: 5 })).toHaveLength(1));
    for (let failure = 1; failure <= 3; failure += 1) {
      await eventually(() => expect(events.filter((e) => e.event === 'media' && !e.ok && e.retryAt)).toHaveLength(failure), 20_000);
      offset += 10 * 60_000;
    }
    // …and the fourth attempt, with a new url, stores the file
    await eventually(() => expect(events.filter((e) => e.event === 'media' && e.ok)).toHaveLength(1), 30_000);
    expect(events.filter((e) => e.event === 'media').map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
    const [message] = await store.inbox.listInteractions({ workspaceId: integration.workspaceId, limit: 5 });
    expect(await store.media.forInteraction(message!.id)).toMatchObject({ state: 'stored', filename: 'contract.pdf', attempts: 4 });
    // The message did not wait for it longer than its bounded wait: it went on, saying the file was still coming.
    await eventually(() => expect(forwarded()).toHaveLength(1), 30_000);
    expect(forwarded()[0].media).toMatchObject({ id: expect.any(String), filename: 'contract.pdf' });
  });
});

describe('an expired media URL', () => {
  it('is fetched again with a fresh URL, and the file stored', async () => {
    target = await startForwardTarget();
    let offset = 0;
    await start({ forwardTo: target.url }, { now: () => new Date(Date.now() + offset) });
    // The first URL the relay is given expires before it can use it (Meta's last 5 minutes).
    let lookups = 0;
    onSandboxRequest = (line) => {
      if (/^GET \/v\d+\.\d+\/\d+ 200/.test(line) && ++lookups === 1) sandbox.expireMediaUrls();
    };
    sandbox.sendInbound([{ from: CUSTOMER, type: 'image' }]);
    await eventually(() => expect(events.filter((e) => e.event === 'media' && !e.ok && e.retryAt)).toHaveLength(1), 20_000);
    offset += 10 * 60_000; // past the retry's backoff
    await eventually(() => expect(events.filter((e) => e.event === 'media' && e.ok)).toHaveLength(1), 30_000);
    expect(lookups).toBe(2); // a fresh URL for the second attempt
    const [message] = await store.inbox.listInteractions({ workspaceId: integration.workspaceId, limit: 5 });
    expect(await store.media.forInteraction(message!.id)).toMatchObject({ state: 'stored', attempts: 2 });
  });
});

describe("replies from the user's code, without the token", () => {
  it('a forward target answering {"reply": …} sends it once, through the outbox', async () => {
    target = await startForwardTarget(() => 200, undefined, () => JSON.stringify({ reply: { text: 'Got it', buttons: [{ id: 'ok', title: 'OK' }] } }));
    await start({ forwardTo: target.url });
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'hello' }]);
    await eventually(() => expect(sandbox.sent(CUSTOMER).filter((s) => s.outcome.result === 'accepted')).toHaveLength(1), 20_000);
    const [sent] = sandbox.sent(CUSTOMER);
    expect(sent!.body).toMatchObject({ to: CUSTOMER, type: 'interactive', interactive: { type: 'button', body: { text: 'Got it' } } });
    // The sandbox records the send as it answers; the relay records Meta's answer just after it arrives.
    await eventually(async () => {
      const outbound = await store.outbound.findByWamid(sent!.outcome.result === 'accepted' ? sent!.outcome.wamid : '');
      expect(outbound).toMatchObject({ source: 'reply', kind: 'interactive', idempotencyKey: expect.stringMatching(/^reply:in_\d+:0$/) });
    });
  });

  it("the reply is sent when the delivery's record had to wait for the database (it was lost)", async () => {
    // Given a database that refuses the first record of a delivery
    const base = services();
    let refusals = 0;
    const refusing: Store = {
      ...base.store,
      dispatch: {
        ...base.store.dispatch,
        markDelivered: async (...args) => {
          if (refusals++ === 0) throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
          return base.store.dispatch.markDelivered(...args);
        },
      },
    };
    await start({ exec: `cat >/dev/null; echo '{"reply":{"text":"On its way"}}'` }, { store: refusing });
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'where is it?' }]);

    // Then once the record is written, the reply goes, once
    await eventually(() => expect(sandbox.sent(CUSTOMER).map((s) => (s.body as any).text?.body)).toEqual(['On its way']), 30_000);
    expect(refusals).toBe(2);
    expect(events.filter((e) => e.event === 'dispatch' && e.ok)).toHaveLength(1);
  });

  it("a printer that fails on the delivery's line loses the line, not the delivery: recorded once, the reply sent once", async () => {
    let failing = 0;
    const failOnce = (event: RelayEvent) => {
      if (event.event === 'dispatch' && failing++ === 0) throw new Error('ENOSPC: no space left on device, write');
      events.push(event);
    };
    await start({ exec: `cat >/dev/null; echo '{"reply":{"text":"Noted"}}'` }, { onEvent: failOnce });
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'hello' }]);
    await eventually(() => expect(sandbox.sent(CUSTOMER).map((s) => (s.body as any).text?.body)).toEqual(['Noted']), 20_000);
    // (recorded once: one attempt, delivered)
    expect(await store.dispatch.list({ workspaceId: integration.workspaceId, failedOnly: false, limit: 10 })).toMatchObject([{ state: 'delivered', attempts: 1 }]);
    expect(failing).toBe(1);
  });

  it('an NDJSON log on a handler\'s stdout is no reply: the fixed --auto-reply is sent, and no failed reply is said', async () => {
    await start({ exec: `cat >/dev/null; echo '{"level":30,"msg":"handled"}'; echo '{"level":30,"msg":"done"}'`, autoReply: 'Thanks!' });
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'hi' }]);
    await eventually(() => expect(sandbox.sent(CUSTOMER).map((s) => (s.body as any).text?.body)).toEqual(['Thanks!']), 20_000);
    expect(events.filter((e) => e.event === 'reply')).toEqual([]);
  });

  it('an --exec handler printing {"messages": […]} sends each; what else it prints shows in the relay output', async () => {
    const script = `cat >/dev/null; echo "working on $LUMEN_INTERACTION_ID" >&2; echo '{"messages":[{"text":"one"},{"text":"two"},{"text":"three"},{"text":"four"},{"text":"five"}]}'`;
    await start({ exec: script });
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'hi' }]);
    // In the order given (each sent once the one before it has Meta's answer)
    await eventually(() => expect(sandbox.sent(CUSTOMER).map((s) => (s.body as any).text?.body)).toEqual(['one', 'two', 'three', 'four', 'five']), 20_000);
    expect(events).toContainEqual(expect.objectContaining({ event: 'handler_output', stream: 'stderr', text: expect.stringMatching(/^working on in_\d+$/) }));
  });

  it('an answer that starts with "{" but is not JSON is a failed reply, and nothing is sent in its place', async () => {
    // Given a handler whose reply is cut short, with --auto-reply sending what it prints
    await start({ exec: `cat >/dev/null; echo '{"reply": {"text": "Your order'`, autoReply: true });
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'where is it?' }]);
    // Then the relay says so, and the customer gets no raw text
    const failed = await eventually(() => {
      const found = events.find((e) => e.event === 'reply');
      expect(found).toBeDefined();
      return found!;
    }, 20_000);
    expect(failed).toMatchObject({ ok: false, to: CUSTOMER, error: expect.stringMatching(/^the answer starts with "\{" but is not JSON \(.+\), so no reply was sent$/) });
    await relay!.close();
    relay = undefined;
    expect(sandbox.sent(CUSTOMER)).toEqual([]);
    expect(events.filter((e) => e.event === 'auto_reply')).toEqual([]);
  });

  it('a username user (no phone number) gets the auto-reply by `recipient`', async () => {
    await start({ exec: 'cat >/dev/null', autoReply: 'Thanks!' });
    sandbox.sendInbound([{ userId: USER_ID, name: 'Ana', type: 'text', text: 'hi' }]);
    await eventually(() => expect(sandbox.sent(USER_ID).filter((s) => s.outcome.result === 'accepted')).toHaveLength(1), 20_000);
    expect(sandbox.sent(USER_ID)[0]!.body).toMatchObject({ recipient: USER_ID, type: 'text', text: { body: 'Thanks!' } });
    expect((sandbox.sent(USER_ID)[0]!.body as Record<string, unknown>).to).toBeUndefined();
  });
});

describe('events nobody shows', () => {
  it('are not built: the relay asks its printer (`wants`) before making a message event, under --quiet none is', async () => {
    // Given a relay whose printer shows no message events (as --quiet)
    relay = await startRelay(
      { ...services(), onEvent: Object.assign((event: RelayEvent) => events.push(event), { wants: (name: RelayEvent['event']) => name !== 'message' }) },
      { host: '127.0.0.1', port: 0, mediaDir: home.path('media') },
    );
    sandbox.setWebhookUrl(`${relay.url}/webhooks/whatsapp/${integration.id}`);
    // When a message arrives and is stored
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'quiet please' }]);
    await eventually(async () => expect(await store.inbox.lastInboundAt(integration.id, CUSTOMER)).toBeTruthy());
    await relay.close();
    relay = undefined;
    // Then no message event was made
    expect(events.filter((e) => e.event === 'message')).toEqual([]);
  });
});

describe('the local API', () => {
  /** A call to the local API; its JSON is whatever the API answered (the test checks it). */
  const call = (path: string, init: RequestInit & { key?: string | null } = {}): Promise<Omit<Response, 'json'> & { json(): Promise<any> }> =>
    fetch(`${relay!.localApi!.url}${path}`, {
      ...init,
      headers: {
        ...(init.key === null ? {} : { authorization: `Bearer ${init.key ?? relay!.localApi!.key}` }),
        'content-type': 'application/json',
        ...(init.headers as Record<string, string>),
      },
    });

  it('refuses an upload from the headers alone (a wrong key, a forwarded request), before reading its body', async () => {
    await start();
    // A body of 90 MB announced and never sent: only an answer from the headers can arrive
    const url = `${relay!.localApi!.url}/v1/media`;
    const noKey = await postAnnouncing(url, 90_000_000, { 'content-type': 'application/pdf', authorization: 'Bearer lk_wrong' });
    expect([noKey.status, noKey.json.error.code]).toEqual([401, 'unauthorized']);
    // (by the route: a percent-encoded path reaches it too)
    const encoded = await postAnnouncing(`${relay!.localApi!.url}/%761/media`, 90_000_000, { 'content-type': 'application/pdf', authorization: 'Bearer lk_wrong' });
    expect(encoded.status).toBe(401);
    const forwarded = await postAnnouncing(url, 90_000_000, { 'content-type': 'application/pdf', authorization: `Bearer ${relay!.localApi!.key}`, 'x-forwarded-for': '6.6.6.6' });
    expect([forwarded.status, forwarded.json.error.code]).toEqual([403, 'local_only']);
    // And one over the upload limit names that limit
    const huge = await postAnnouncing(url, 200_000_000, { 'content-type': 'application/pdf', authorization: `Bearer ${relay!.localApi!.key}` });
    expect(huge.status).toBe(413);
    expect(huge.json.error.message).toBe('The body is over 100000000 bytes.');
  });

  it('refuses a wrong key (401), a bad body naming the field (400), and holds for approval (202)', async () => {
    await start();
    expect((await call('/v1/messages', { method: 'POST', body: '{}', key: 'lk_wrong' })).status).toBe(401);
    expect((await call('/v1/messages', { method: 'POST', body: '{}', key: null })).status).toBe(401);
    const emptyKey = await call('/v1/messages', { method: 'POST', body: JSON.stringify({ to: CUSTOMER, text: 'x' }), headers: { 'idempotency-key': ' ' } });
    expect([emptyKey.status, (await emptyKey.json()).error.code]).toEqual([400, 'invalid_idempotency_key']);
    const noTo = await call('/v1/messages', { method: 'POST', body: JSON.stringify({ text: 'x' }) });
    expect(noTo.status).toBe(400);
    expect((await noTo.json()).error.message).toMatch(/"to"/);
    const badButtons = await call('/v1/messages', { method: 'POST', body: JSON.stringify({ to: CUSTOMER, text: 'x', buttons: [{ id: 'a' }] }) });
    expect(badButtons.status).toBe(400);
    expect((await badButtons.json()).error.message).toMatch(/"title"/);
    const badMedia = await call('/v1/messages', { method: 'POST', body: JSON.stringify({ to: CUSTOMER, image: '../../etc/passwd' }) });
    expect(badMedia.status).toBe(400);
    expect((await badMedia.json()).error.message).toMatch(/"image" must be an http\(s\) URL or a media id/);
    const badIntegration = await call('/v1/messages', { method: 'POST', body: JSON.stringify({ to: CUSTOMER, text: 'x', integration: {} }) });
    expect(badIntegration.status).toBe(400);
    expect((await badIntegration.json()).error.message).toMatch(/^"integration" must be a string/);
    // Later checks name the JSON fields the caller wrote too, never `lumen send`'s flags
    const refusals = [
      { to: CUSTOMER, image: 'https://x.test/a.png', caption: 'c'.repeat(1025) },
      { to: CUSTOMER, react: 'ab', toMessage: 'wamid.Q' },
      { to: CUSTOMER, type: 'sticker', sticker: { id: '123456' }, recipient: '15550001111' },
      { to: CUSTOMER, text: 'Pick', buttons: [{ id: 'a', title: 'A' }], footer: 'f'.repeat(61) },
      { to: '15550001111', text: 'never wrote' },
      { to: CUSTOMER, text: 'hi', footer: 'F' },
    ];
    const answers = [];
    for (const body of refusals) answers.push((await (await call('/v1/messages', { method: 'POST', body: JSON.stringify(body) })).json()).error);
    expect(answers.map((a) => a.message)).toEqual([
      expect.stringMatching(/^"caption" is 1025 characters/),
      expect.stringMatching(/^"react" takes one emoji/),
      'The message must not name the recipient: lumen adds it from "to".',
      expect.stringMatching(/^"footer" is 61 characters/),
      expect.stringMatching(/has never written to this number/),
      'The message has "footer", which a text message does not take: nothing is sent with a part left out.',
    ]);
    expect(answers[4].hint).toBe('Send an approved template ("template": {"name", "language", "params"}).');
    expect(JSON.stringify(answers)).not.toMatch(/--/);
    // A message nested far too deep is refused as such (storing it as JSON would overflow the stack)
    const deep = `{"to":"${CUSTOMER}","type":"interactive","interactive":{"type":"button","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const nested = await call('/v1/messages', { method: 'POST', body: deep });
    expect([nested.status, (await nested.json()).error.message]).toEqual([400, 'The message is nested deeper than 64 levels: no Cloud API message is.']);
    expect(sandbox.sent()).toHaveLength(0); // refused before Meta
    // Through a tunnel or a proxy: never
    expect((await call('/v1/messages', { method: 'POST', body: '{}', headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(403);

    await store.workspaces.setApprovalPolicy(integration.workspaceId, 'templates');
    const held = await call('/v1/messages', {
      method: 'POST',
      body: JSON.stringify({ to: CUSTOMER, template: { name: 'hello_world', language: 'en_US' } }),
      headers: { 'idempotency-key': 'order-7' },
    });
    expect(held.status).toBe(202);
    const json = await held.json();
    expect(json).toMatchObject({ state: 'pending_approval', approvalId: json.id });
    expect(sandbox.sent()).toHaveLength(0);
  });

  it('a send under way when the relay stops gets its answer; a delivery stalled mid-body is cut off at the deadline', async () => {
    // Given a relay whose Graph API (the sandbox behind a gate) answers sends only once let, and a customer who wrote
    const gate = await gatedGraph(sandbox.url);
    const graphServices = sandboxServices({ store, secrets: connected.secrets, sandbox: { url: gate.url } as SandboxHandle, clients: connected.clients });
    relay = await startRelay({ ...graphServices, onEvent: (event) => events.push(event) }, { host: '127.0.0.1', port: 0, mediaDir: home.path('media') });
    sandbox.setWebhookUrl(`${relay.url}/webhooks/whatsapp/${integration.id}`);
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'where is my order?' }]);
    await eventually(async () => expect(await store.inbox.lastInboundAt(integration.id, CUSTOMER)).toBeTruthy());
    // ...and the bot's answer on its way to Meta, and a client that began a delivery and sends no more
    const send = call('/v1/messages', { method: 'POST', body: JSON.stringify({ to: CUSTOMER, text: 'It ships today' }) });
    await gate.held;
    const stalled = await stalledDelivery(`${relay.url}/webhooks/whatsapp/${integration.id}`);
    // When the relay is told to stop, and Meta answers the send only once the stalled client was cut off
    const closed = relay.close();
    await eventually(() => expect(events.some((e) => e.event === 'error' && /cut off/.test(e.message))).toBe(true));
    gate.open();
    // Then the send got its answer, the stalled client none, and the relay stopped
    const answer = await send;
    expect(answer.status).toBe(201);
    expect((await answer.json()).wamid).toMatch(/^wamid\./);
    await closed;
    relay = undefined;
    expect(await stalled.closed).not.toContain('200 OK');
    expect(events.filter((e) => e.event === 'error').map((e) => e.event === 'error' && e.message)).toEqual([
      '1 request still arriving 15 s after the stop was cut off: a delivery among them got no 200, so Meta sends it again.',
    ]);
    await gate.close();
  });

  it('uploads a file, then sends it by id; the same Idempotency-Key sends once', async () => {
    await start();
    // The customer wrote: the window is open
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'send me the menu' }]);
    await eventually(async () => expect(await store.inbox.lastInboundAt(integration.id, CUSTOMER)).toBeTruthy());
    // An empty file name is refused before anything reaches Meta
    const media = sandbox.media().length;
    const twice = await fetch(`${relay!.localApi!.url}/v1/media?filename=`, {
      method: 'POST',
      headers: { authorization: `Bearer ${relay!.localApi!.key}`, 'content-type': 'application/pdf' },
      body: '%PDF-1.4 menu',
    });
    expect([twice.status, ((await twice.json()) as { error: { code: string } }).error.code]).toEqual([400, 'invalid_media']);
    // So are bytes that are not the image their Content-Type says (the customer would see a broken image)
    const notPng = await fetch(`${relay!.localApi!.url}/v1/media`, {
      method: 'POST',
      headers: { authorization: `Bearer ${relay!.localApi!.key}`, 'content-type': 'image/png' },
      body: 'just some text',
    });
    expect([notPng.status, ((await notPng.json()) as { error: { message: string } }).error.message]).toEqual([
      400,
      'The body is not PNG, as its Content-Type image/png says: WhatsApp would show a broken image.',
    ]);
    expect(sandbox.media()).toHaveLength(media);
    const upload = await fetch(`${relay!.localApi!.url}/v1/media?filename=menu.pdf`, {
      method: 'POST',
      headers: { authorization: `Bearer ${relay!.localApi!.key}`, 'content-type': 'application/pdf' },
      body: '%PDF-1.4 menu',
    });
    expect(upload.status).toBe(201);
    const { id } = (await upload.json()) as { id: string };
    const body = JSON.stringify({ to: `+${CUSTOMER}`, document: id, filename: 'menu.pdf', caption: 'Our menu' });
    const first = await call('/v1/messages', { method: 'POST', body, headers: { 'idempotency-key': 'menu-1' } });
    expect(first.status).toBe(201);
    const again = await call('/v1/messages', { method: 'POST', body, headers: { 'idempotency-key': 'menu-1' } });
    expect(again.status).toBe(200);
    const accepted = sandbox.sent(CUSTOMER).filter((s) => s.outcome.result === 'accepted');
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.body).toMatchObject({ type: 'document', document: { id, filename: 'menu.pdf', caption: 'Our menu' } });
    const shown = await call(`/v1/messages/${(await first.json()).id}`);
    expect((await shown.json()).wamid).toMatch(/^wamid\./);
  });

  it('marks a received message read, with the typing indicator', async () => {
    await start();
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'hi' }]);
    const [message] = await eventually(async () => {
      const all = await store.inbox.listInteractions({ workspaceId: integration.workspaceId, limit: 5 });
      expect(all).toHaveLength(1);
      return all;
    });
    const read = await call(`/v1/messages/${encodeURIComponent(message!.wamid)}/read`, { method: 'POST', body: '{"typing":true}' });
    expect(read.status).toBe(200);
    expect(sandbox.reads().at(-1)).toMatchObject({ messageId: message!.wamid, typingIndicator: 'text', outcome: { result: 'accepted' } });
    // A received message is looked up by its id or its wamid, as a sent one is
    for (const ref of [message!.id, message!.wamid]) {
      const shown = await call(`/v1/messages/${encodeURIComponent(ref)}`);
      expect(shown.status).toBe(200);
      expect(await shown.json()).toMatchObject({ direction: 'in', id: message!.id, wamid: message!.wamid, text: 'hi', from: CUSTOMER, media: null });
    }
    const missing = await call('/v1/messages/in_999999');
    expect([missing.status, (await missing.json()).error.code]).toEqual([404, 'message_not_found']);
    // A "to" that is a number is said to be one (it is there, only not text)
    const numeric = await call('/v1/messages', { method: 'POST', body: JSON.stringify({ to: 15551234567, text: 'x' }) });
    expect([numeric.status, (await numeric.json()).error.message]).toEqual([400, '"to" must be text (a JSON string: "+15551234567"); got a number.']);
  });
});

describe("the README's bot (examples/bot.mjs)", () => {
  it('answers an image with buttons through the local API, and a tap on a button with its choice', async () => {
    const bot = join(import.meta.dirname, '..', '..', 'examples', 'bot.mjs');
    await start({ exec: `node ${JSON.stringify(bot)}` });
    sandbox.sendInbound([{ from: CUSTOMER, type: 'image' }]);
    await eventually(() => expect(sandbox.sent(CUSTOMER).filter((s) => s.outcome.result === 'accepted')).toHaveLength(1), 30_000);
    const [buttons] = sandbox.sent(CUSTOMER);
    expect(buttons!.body).toMatchObject({ type: 'interactive', interactive: { type: 'button', action: { buttons: [{ reply: { id: 'keep' } }, { reply: { id: 'delete' } }] } } });
    await eventually(() =>
      expect(events).toContainEqual(expect.objectContaining({ event: 'handler_output', stream: 'stderr', text: expect.stringMatching(/^picture saved at .*media\//) })),
    );

    // The customer taps "Keep it"
    sandbox.sendInbound([{ from: CUSTOMER, type: 'interactive', text: 'Keep it', buttonId: 'keep', contextWamid: buttons!.outcome.result === 'accepted' ? buttons!.outcome.wamid : undefined }]);
    await eventually(() => expect(sandbox.sent(CUSTOMER).filter((s) => s.outcome.result === 'accepted')).toHaveLength(2), 30_000);
    expect(sandbox.sent(CUSTOMER)[1]!.body).toMatchObject({ type: 'text', text: { body: 'Kept 👍' } });
  });
});

/** The Graph API at `upstream`, except that the first send (POST …/messages) waits until `open()`. */
async function gatedGraph(upstream: string) {
  let release!: () => void;
  const opened = new Promise<void>((resolve) => (release = resolve));
  let heldResolve!: () => void;
  const held = new Promise<void>((resolve) => (heldResolve = resolve));
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (request.method === 'POST' && request.url?.endsWith('/messages')) {
      heldResolve();
      await opened;
    }
    const answer = await fetch(`${upstream}${request.url}`, {
      method: request.method,
      headers: Object.fromEntries(Object.entries(request.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k))) as Record<string, string>,
      ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
    });
    response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
    response.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    held,
    open: release,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
