import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp, type RelayAppDeps } from '../../src/relay/app.js';
import { IntegrationDirectory, type RelayIntegration } from '../../src/relay/directory.js';
import type { RelayEvent } from '../../src/relay/events.js';
import { GroupCommitter } from '../../src/relay/ingest.js';
import { signBody } from '../../src/relay/signature.js';
import { hashVerifyToken } from '../../src/services/whatsapp/tokens.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'webhooks');
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

let dir: string;
let store: Store;
let events: RelayEvent[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lumen-relay-app-'));
  store = openStore(join(dir, 'lumen.db'));
  events = [];
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function app(overrides: Partial<RelayAppDeps> = {}) {
  const directory = new IntegrationDirectory(async () => [care, sales]);
  await directory.load();
  return buildApp({
    directory,
    committer: new GroupCommitter(store.inbox),
    dispatchEnabled: true,
    onEvent: (e) => events.push(e),
    ...overrides,
  });
}

function fixture(name: string, phoneNumberId = PHONE): string {
  return readFileSync(join(FIXTURES, name), 'utf8').replaceAll('1122334455667', phoneNumberId);
}

function post(body: string | Buffer, headers: Record<string, string> = {}, id = 'wa_care') {
  return {
    method: 'POST' as const,
    url: `/webhooks/whatsapp/${id}`,
    payload: body,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(body, SECRET), ...headers },
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
    expect(mode.statusCode).toBe(403);
    expect((await relay.inject({ url: '/webhooks/whatsapp/wa_nope?hub.mode=subscribe' })).statusCode).toBe(404);
  });

  it('stores a signed message before answering received', async () => {
    const relay = await app();
    const response = await relay.inject(post(fixture('01-inbound-text.json')));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'received', messages: 1 });
    const [stored] = await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 });
    expect(stored).toMatchObject({ channel: 'whatsapp', integrationId: 'wa_care', wamid: 'wamid.xyzxyz', text: 'Body Text' });
    expect(await store.dispatch.due(new Date(Date.now() + 1000).toISOString(), 10)).toHaveLength(1);
  });

  it('routes a message for another number of the same app to that number', async () => {
    const relay = await app();
    const response = await relay.inject(post(fixture('01-inbound-text.json', sales.phoneNumberId)));
    expect(response.json()).toEqual({ status: 'received', messages: 1 });
    const [stored] = await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 });
    expect(stored!.integrationId).toBe('wa_sales');
  });

  it('acknowledges statuses and other fields as ignored', async () => {
    const relay = await app();
    for (const name of ['12-status-sent.json', '13-status-failed.json', '14-template-status-update-rejected.json']) {
      const response = await relay.inject(post(fixture(name)));
      expect(response.statusCode, name).toBe(200);
      expect(response.json(), name).toEqual({ status: 'ignored' });
    }
    expect(await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 })).toEqual([]);
  });

  it('refuses bad requests with the contract statuses and stores nothing', async () => {
    const relay = await app();
    const body = fixture('01-inbound-text.json');
    const cases: Array<[string, ReturnType<typeof post>, number]> = [
      ['unsigned', { ...post(body), headers: { 'content-type': 'application/json' } }, 401],
      ['malformed header', post(body, { 'x-hub-signature-256': 'sha256=zz' }), 401],
      ['wrong secret', post(body, { 'x-hub-signature-256': signBody(body, 'f'.repeat(32)) }), 401],
      ['tampered', { ...post(body), payload: body.replace('Body Text', 'Evil Text') }, 401],
      ['unknown integration', post(body, {}, 'wa_unknown'), 404],
      ['signed but not JSON', post('{"object": "whatsapp_business_account", '), 400],
      ['over 3 MiB', post(Buffer.alloc(3 * 1024 * 1024 + 1, 32)), 413],
    ];
    for (const [name, request, status] of cases) {
      const response = await relay.inject(request);
      expect(response.statusCode, name).toBe(status);
      expect(response.json().error.code, name).toBeTruthy();
    }
    expect(await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 })).toEqual([]);
  });

  it('rate-limits per integration with 429 and Retry-After, which Meta retries', async () => {
    const relay = await app({ limits: { perIntegration: 1 } });
    const body = fixture('12-status-sent.json');
    expect((await relay.inject(post(body))).statusCode).toBe(200);
    expect((await relay.inject(post(body))).statusCode).toBe(200); // burst of two
    const limited = await relay.inject(post(body));
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('refuses a flood of bad signatures from one client before checking them', async () => {
    const relay = await app({ limits: { failedSignaturesPerClient: 2 } });
    const body = fixture('01-inbound-text.json');
    const bad = post(body, { 'x-hub-signature-256': signBody(body, 'f'.repeat(32)) });
    const statuses = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await relay.inject(bad)).statusCode);
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses.slice(4)).toEqual([429, 429]);
  });

  it('has a health check and JSON 404s', async () => {
    const relay = await app();
    expect((await relay.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const missing = await relay.inject({ url: '/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not_found');
  });
});
