import { get as httpGet, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp, type RelayAppDeps } from '../../src/relay/app.js';
import { IntegrationDirectory, type RelayIntegration } from '../../src/relay/directory.js';
import type { RelayEvent } from '../../src/relay/events.js';
import { GroupCommitter } from '../../src/relay/ingest.js';
import { signBody } from '../../src/relay/signature.js';
import { hashVerifyToken } from '../../src/webhooks.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { eventually } from '../helpers/async.js';
import { makeHome, type LumenHome } from '../helpers/home.js';
import { delivery, entry, fixtureFor, messagesChange, statusItem, textMessage, toBody } from '../helpers/webhooks.js';

const SECRET = '5a4d0b1e9c3f7a2e8b6d4c0f1a3e5b7d';
const PHONE = '106540352242922';

const care: RelayIntegration = {
  id: 'wa_care',
  workspaceId: 'ws_1',
  workspaceName: 'default',
  label: 'Care line',
  phoneNumberId: PHONE,
  displayPhoneNumber: '+1 555-010-4242',
  verifyTokenHash: hashVerifyToken('lvt_right'),
  appSecret: SECRET,
};
// A second number of the same Meta app: its webhooks arrive on the first one's Callback URL.
const sales: RelayIntegration = { ...care, id: 'wa_sales', label: 'Sales', phoneNumberId: '106540352242999' };

let home: LumenHome;
let store: Store;
let events: RelayEvent[];

beforeEach(() => {
  home = makeHome();
  store = openStore(home.path('lumen.db'));
  events = [];
});
afterEach(() => {
  store.close();
  home.cleanup();
});

/** What the directory's loader returns; a test changes it and moves `marker`, as a write to integrations would. */
let connected: { ready: RelayIntegration[]; unavailable: Array<{ id: string; reason: string }> };
let marker: number;

async function app(overrides: Partial<RelayAppDeps> = {}) {
  connected = { ready: [care, sales], unavailable: [] };
  marker = 1;
  const directory = new IntegrationDirectory(async () => connected, async () => marker);
  return buildApp({
    directory,
    committer: new GroupCommitter(store.inbox),
    dispatchEnabled: true,
    onEvent: (e) => events.push(e),
    ...overrides,
  });
}


function post(body: string | Buffer, headers: Record<string, string> = {}, id = 'wa_care') {
  return {
    method: 'POST' as const,
    url: `/webhooks/whatsapp/${id}`,
    payload: body,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(body, SECRET), ...headers } as Record<string, string>,
  };
}

describe('relay app (inject)', () => {
  it('answers the handshake only with the right verify token, as plain text', async () => {
    const relay = await app();
    const ok = await relay.inject({
      url: '/webhooks/whatsapp/wa_care?hub.mode=subscribe&hub.verify_token=lvt_right&hub.challenge=1158201444',
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain/);
    expect(ok.body).toBe('1158201444');
    const wrong = await relay.inject({ url: '/webhooks/whatsapp/wa_care?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1' });
    expect(wrong.statusCode).toBe(403);
    const mode = await relay.inject({ url: '/webhooks/whatsapp/wa_care?hub.mode=unsubscribe&hub.verify_token=lvt_right&hub.challenge=1' });
    expect(mode.statusCode).toBe(400);
    expect((await relay.inject({ url: '/webhooks/whatsapp/wa_nope?hub.mode=subscribe' })).statusCode).toBe(404);
  });

  it('keeps an idle connection open for its next request as long as it says (Keep-Alive: timeout=10)', async () => {
    const relay = await app();
    await relay.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = relay.server.address() as AddressInfo;
      const answer = await new Promise<IncomingMessage>((resolve, reject) => httpGet({ host: '127.0.0.1', port, path: '/healthz' }, resolve).on('error', reject));
      answer.resume();
      expect(answer.headers['keep-alive']).toBe('timeout=10');
    } finally {
      await relay.close();
    }
  });

  it('answers 503 at once to a big body that would go past the budget in flight, and takes it again once one ends', async () => {
    const relay = await app({ largeBodiesBudget: 300 * 1024 });
    await relay.listen({ host: '127.0.0.1', port: 0 });
    const { port } = relay.server.address() as AddressInfo;
    // A signed delivery of 200 KiB (padded with spaces, which JSON allows).
    const fixture = fixtureFor('01-inbound-text.json', PHONE);
    const big = Buffer.concat([fixture, Buffer.alloc(200 * 1024 - fixture.length, 32)]);
    const send = (body: Buffer) =>
      fetch(`http://127.0.0.1:${port}/webhooks/whatsapp/wa_care`, { method: 'POST', body, headers: post(body).headers });
    // One that declares 200 KiB and sends none of it: its share is taken once the relay has its headers (100 Continue).
    const held = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/webhooks/whatsapp/wa_care',
      headers: { 'content-type': 'application/json', 'content-length': String(200 * 1024), expect: '100-continue' },
    });
    held.on('error', () => {});
    try {
      await new Promise((resolve) => held.on('continue', resolve));
      const refused = await send(big);
      expect([refused.status, refused.headers.get('retry-after'), ((await refused.json()) as { error: { code: string } }).error.code]).toEqual([503, '5', 'busy']);
      // Small bodies are never refused for it: Meta's deliveries are a few KB, also of no declared length (chunked,
      // as a tunnel may pass them on); a big chunked one takes its bytes past 64 KiB as they come, and is refused
      expect((await send(fixture)).status).toBe(200);
      const chunked = (body: Buffer) =>
        new Promise<IncomingMessage>((resolve, reject) => {
          const request = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/webhooks/whatsapp/wa_care', headers: post(body).headers });
          request.on('response', resolve).on('error', reject);
          for (let i = 0; i < body.length; i += 16 * 1024) request.write(body.subarray(i, i + 16 * 1024));
          request.end();
        });
      const small = await chunked(fixture);
      expect(small.statusCode).toBe(200);
      small.resume();
      const bigChunked = await chunked(big);
      expect(bigChunked.statusCode).toBe(503);
      bigChunked.resume();
      // The held one goes away (its connection closes): its share comes back.
      held.destroy();
      await eventually(async () => expect((await send(big)).status).toBe(200));
    } finally {
      held.destroy();
      await relay.close();
    }
  });

  it('stores a signed message before answering received', async () => {
    const relay = await app();
    const response = await relay.inject(post(fixtureFor('01-inbound-text.json', PHONE)));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'received', messages: 1 });
    const [stored] = await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 });
    expect(stored).toMatchObject({ channel: 'whatsapp', integrationId: 'wa_care', wamid: 'wamid.xyzxyz', text: 'Body Text' });
    const later = new Date(Date.now() + 1000).toISOString();
    expect(await store.dispatch.claimDue(later, later, 10)).toHaveLength(1);
  });

  it('routes a message for another number of the same app to that number', async () => {
    const relay = await app();
    const response = await relay.inject(post(fixtureFor('01-inbound-text.json', sales.phoneNumberId)));
    expect(response.json()).toEqual({ status: 'received', messages: 1 });
    const [stored] = await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 });
    expect(stored!.integrationId).toBe('wa_sales');
  });

  it('acknowledges statuses and other fields as ignored', async () => {
    const relay = await app();
    for (const name of ['12-status-sent.json', '13-status-failed.json', '14-template-status-update-rejected.json']) {
      const response = await relay.inject(post(fixtureFor(name, PHONE)));
      expect(response.statusCode, name).toBe(200);
      expect(response.json(), name).toEqual({ status: 'ignored' });
    }
    expect(await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 })).toEqual([]);
  });

  it('refuses bad requests with the contract statuses and stores nothing', async () => {
    const relay = await app();
    const body = fixtureFor('01-inbound-text.json', PHONE);
    // Each error code says what the message says: an empty header is there, but malformed
    const cases: Array<[string, ReturnType<typeof post>, number, string]> = [
      ['unsigned', { ...post(body), headers: { 'content-type': 'application/json' } }, 401, 'signature_missing'],
      ['malformed header', post(body, { 'x-hub-signature-256': 'sha256=zz' }), 401, 'signature_malformed'],
      ['empty header', post(body, { 'x-hub-signature-256': '' }), 401, 'signature_malformed'],
      ['wrong secret', post(body, { 'x-hub-signature-256': signBody(body, 'f'.repeat(32)) }), 401, 'signature_mismatch'],
      ['tampered', { ...post(body), payload: body.toString().replace('Body Text', 'Evil Text') }, 401, 'signature_mismatch'],
      ['unknown integration', post(body, {}, 'wa_unknown'), 404, 'unknown_integration'],
      ['signed but not JSON', post('{"object": "whatsapp_business_account", '), 400, 'invalid_json'],
      ['over 3 MiB', post(Buffer.alloc(3 * 1024 * 1024 + 1, 32)), 413, 'body_too_large'],
    ];
    for (const [name, request, status, code] of cases) {
      const response = await relay.inject(request);
      expect(response.statusCode, name).toBe(status);
      const error = response.json().error;
      expect(error.code, name).toBe(code);
      if (code.startsWith('signature_')) expect(error.message, name).toMatch(code === 'signature_missing' ? /^Missing/ : code === 'signature_malformed' ? /^Malformed/ : /does not match/);
    }
    expect(await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 })).toEqual([]);
  });

  it('rate-limits per integration with 429 and Retry-After, which Meta retries', async () => {
    const relay = await app({ limits: { perIntegration: 1 } });
    const body = fixtureFor('12-status-sent.json', PHONE);
    expect((await relay.inject(post(body))).statusCode).toBe(200);
    expect((await relay.inject(post(body))).statusCode).toBe(200); // burst of two
    const limited = await relay.inject(post(body));
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // The relay's line names the limit and its flag
    expect(limited.json().error.message).toBe('Too many deliveries: over 1 deliveries/s for this number (--rate-limit); Meta retries.');
    expect(events).toContainEqual(expect.objectContaining({ event: 'rejected', status: 429, reason: limited.json().error.message }));
  });

  it('tells a client flooding bad signatures to back off, and still accepts genuine deliveries from its address', async () => {
    const relay = await app({ limits: { failedSignaturesPerClient: 2 } });
    const body = fixtureFor('01-inbound-text.json', PHONE);
    const bad = post(body, { 'x-hub-signature-256': signBody(body, 'f'.repeat(32)) });
    const statuses = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await relay.inject(bad)).statusCode);
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses.slice(4)).toEqual([429, 429]);
    // Every client behind a tunnel shares one address: the genuine delivery is checked, not refused unchecked.
    expect((await relay.inject(post(body))).statusCode).toBe(200);
  });

  it('counts only verified deliveries against the rate limits', async () => {
    const relay = await app({ limits: { perIntegration: 1 } });
    const body = fixtureFor('12-status-sent.json', PHONE);
    for (let i = 0; i < 20; i += 1) {
      expect((await relay.inject({ ...post(body), headers: { 'content-type': 'application/json' } })).statusCode).toBe(401);
    }
    expect((await relay.inject(post(body))).statusCode).toBe(200);
    expect((await relay.inject(post(body))).statusCode).toBe(200);
  });

  it('sees a change of the connected numbers on the very next request', async () => {
    const relay = await app();
    const body = fixtureFor('01-inbound-text.json', PHONE);
    const handshake = (token: string) =>
      relay.inject({ url: `/webhooks/whatsapp/wa_care?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=7` });
    expect((await handshake('lvt_right')).statusCode).toBe(200);
    // rotate-token: the old token is refused at once
    connected = { ready: [{ ...care, verifyTokenHash: hashVerifyToken('lvt_new') }, sales], unavailable: [] };
    marker += 1;
    expect((await handshake('lvt_right')).statusCode).toBe(403);
    expect((await handshake('lvt_new')).statusCode).toBe(200);
    // re-connect with a new app secret: the old secret no longer verifies
    const newSecret = 'a'.repeat(32);
    connected = { ready: [{ ...care, appSecret: newSecret }], unavailable: [] };
    marker += 1;
    expect((await relay.inject(post(body))).statusCode).toBe(401);
    expect((await relay.inject(post(body, { 'x-hub-signature-256': signBody(body, newSecret) }))).statusCode).toBe(200);
    // disconnect: 404 at once
    connected = { ready: [], unavailable: [] };
    marker += 1;
    expect((await relay.inject(post(body, { 'x-hub-signature-256': signBody(body, newSecret) }))).statusCode).toBe(404);
  });

  it('answers 503 (never 404) while a number\'s secrets cannot be read, and 503 when the store fails', async () => {
    const relay = await app();
    const body = fixtureFor('01-inbound-text.json', PHONE);
    connected = { ready: [sales], unavailable: [{ id: 'wa_care', reason: 'The keychain is locked.' }] };
    marker += 1;
    const locked = await relay.inject(post(body));
    expect(locked.statusCode).toBe(503);
    expect(locked.headers['retry-after']).toBeTruthy();
    expect(events).toContainEqual(expect.objectContaining({ event: 'error', message: expect.stringContaining('keychain is locked') }));

    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    const failing = await app({ committer: { submit: async () => Promise.reject(full) } as unknown as GroupCommitter });
    const refused = await failing.inject(post(body));
    expect(refused.statusCode).toBe(503);
    expect(events).toContainEqual(expect.objectContaining({ event: 'error', message: expect.stringContaining('disk holding LUMEN_HOME is full') }));
    expect(await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 })).toEqual([]);
  });

  it('refuses a delivery over the parse budget whole (413) instead of storing part of it', async () => {
    const relay = await app();
    const messages = Array.from({ length: 12_000 }, (_, i) => textMessage({ wamid: `wamid.${i}`, from: '15551234567', body: 'x' }));
    const body = toBody(delivery(entry([messagesChange(PHONE, { messages })])));
    const response = await relay.inject(post(body));
    expect(response.statusCode).toBe(413);
    expect(await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 })).toEqual([]);
  });

  it('ignores statuses named like Object.prototype members and stores the messages batched with them', async () => {
    const relay = await app();
    const change = messagesChange(PHONE, {
      statuses: ['constructor', '__proto__', 'toString'].map((status) => statusItem({ wamid: 'wamid.S', status, recipient: '1' })),
      messages: [textMessage({ wamid: 'wamid.real', from: '15551234567', body: 'hi' })],
      errors: [{ code: 131051, title: 'Unsupported message type', error_data: { details: 'Message type is not currently supported' } }],
    });
    const body = toBody(delivery(entry([change])));
    const response = await relay.inject(post(body));
    expect(response.statusCode).toBe(200);
    expect((await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 })).map((i) => i.wamid)).toEqual(['wamid.real']);
    // Meta's errors are recorded and reported, not dropped.
    expect(await store.inbox.listWebhookErrors('ws_1', 10)).toMatchObject([{ code: 131051, details: 'Message type is not currently supported' }]);
    await eventually(() => expect(events).toContainEqual(expect.objectContaining({ event: 'webhook_error', code: 131051 })));
  });

  it('has a health check and JSON 404s', async () => {
    const relay = await app();
    expect((await relay.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const missing = await relay.inject({ url: '/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not_found');
  });
});
