/**
 * The browser console's routes, in process: the real relay on 127.0.0.1 with a real SQLite file, the sandbox as the
 * Graph API and as Meta's webhook sender. Auth (401, loopback, Host, the cookie exchange), CSRF, escaping, pagination,
 * and every action going through the same outbox, approvals and dispatch queue as the CLI.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { consoleToken, CONSOLE_TOKEN_KEY } from '../../src/relay/server.js';
import { postTriggerFile, readDeliveryFile } from '../../src/services/webhooks/trigger.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { currentUser } from '../../src/services/messages/approvals.js';
import { eventually } from '../helpers/async.js';
import { consoleSetup, signIn, type ConsoleSetup } from '../helpers/console.js';
import { postSigned, startForwardTarget, type ForwardTarget } from '../helpers/relay.js';
import { delivery, entry, inbound, messagesChange, toBody } from '../helpers/webhooks.js';
import { writeFileSync } from 'node:fs';

const CUSTOMER = '15551234567';

let sandbox: SandboxHandle;
let setup: ConsoleSetup;
let target: ForwardTarget | undefined;
beforeAll(async () => {
  sandbox = await startSandbox({ webhookDelayMs: 5 });
});
afterAll(() => sandbox.close());
beforeEach(async () => {
  sandbox.reset();
  setup = await consoleSetup(sandbox);
});
afterEach(async () => {
  await setup.close();
  await target?.close();
  target = undefined;
});

/** The customer writes (a signed webhook from the sandbox) and the relay has stored it. */
async function customerWrites(text: string, from = CUSTOMER): Promise<string> {
  const before = (await setup.store.inbox.listInteractions({ workspaceId: setup.integration.workspaceId, limit: 1000 })).length;
  sandbox.sendInbound([{ from, name: 'Ana', type: 'text', text }]);
  const [latest] = await eventually(async () => {
    const all = await setup.store.inbox.listInteractions({ workspaceId: setup.integration.workspaceId, limit: 1000 });
    expect(all.length).toBe(before + 1);
    return all;
  });
  return latest!.id;
}

/** What a POST's redirect tells the page to show. */
function flash(answer: { headers: Headers }): string {
  const url = new URL(answer.headers.get('location')!, 'http://console.invalid');
  return `notice=${url.searchParams.get('notice') ?? ''} error=${url.searchParams.get('error') ?? ''}`;
}

const conversationPath = (contact = CUSTOMER) => `/console/conversations/${setup.integration.id}/${contact}`;

describe('access', () => {
  it('answers 401 without the token or with a wrong one, and takes the right one once into an HttpOnly SameSite=Strict cookie', async () => {
    const relay = await setup.start();
    const url = new URL(relay.console!.url);
    for (const path of ['/console', '/console/conversations', '/console/approvals', '/console/events', '/console/templates', '/console/relay', '/console/stream']) {
      expect((await fetch(`${url.origin}${path}`)).status, path).toBe(401);
    }
    expect((await fetch(`${url.origin}/console?token=ct_wrong`, { redirect: 'manual' })).status).toBe(401);
    // A token of another length is refused the same way (the comparison is over hashes, in constant time).
    expect((await fetch(`${url.origin}/console`, { headers: { cookie: 'lumen_console=x' } })).status).toBe(401);
    // Malformed input is refused as such, never a 500: a cookie with a broken escape, a token given twice
    expect((await fetch(`${url.origin}/console`, { headers: { cookie: 'lumen_console=%E0%A4%A' } })).status).toBe(401);
    expect((await fetch(`${url.origin}/console?token=ct_wrong&token=ct_other`, { redirect: 'manual' })).status).toBe(401);

    const exchange = await fetch(relay.console!.url, { redirect: 'manual' });
    expect(exchange.status).toBe(303);
    expect(exchange.headers.get('location')).toBe('/console');
    const cookie = exchange.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/console/);

    const client = await signIn(relay.console!.url);
    const page = await client.get('/console');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    // A Bearer header works as well as the cookie (scripts).
    const token = url.searchParams.get('token')!;
    expect((await fetch(`${url.origin}/console/relay`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('answers on loopback only: another client address, a forwarding header or a Host that is not loopback get 403', async () => {
    const relay = await setup.start();
    const token = new URL(relay.console!.url).searchParams.get('token')!;
    const auth = { authorization: `Bearer ${token}` };
    const remote = await relay.app.inject({ method: 'GET', url: '/console', headers: auth, remoteAddress: '192.0.2.7' });
    expect(remote.statusCode).toBe(403);
    const forwarded = await relay.app.inject({ method: 'GET', url: '/console', headers: { ...auth, 'x-forwarded-for': '192.0.2.7' } });
    expect(forwarded.statusCode).toBe(403);
    // DNS rebinding: a page at evil.example resolving to 127.0.0.1 names its own Host.
    const rebound = await relay.app.inject({ method: 'GET', url: '/console', headers: { ...auth, host: 'evil.example:8787' } });
    expect(rebound.statusCode).toBe(403);
    const local = await relay.app.inject({ method: 'GET', url: '/console', headers: { ...auth, host: '127.0.0.1:8787' } });
    expect(local.statusCode).toBe(200);
    // The token's exchange for a cookie is held to the same checks: no cookie for a rebound or forwarded request.
    const exchange = `/console?token=${encodeURIComponent(token)}`;
    for (const headers of [{ host: 'evil.example:8787' }, { 'x-forwarded-for': '192.0.2.7' }]) {
      const answer = await relay.app.inject({ method: 'GET', url: exchange, headers });
      expect(answer.statusCode, JSON.stringify(headers)).toBe(403);
      expect(answer.headers['set-cookie']).toBeUndefined();
    }
    const remoteExchange = await relay.app.inject({ method: 'GET', url: exchange, remoteAddress: '192.0.2.7' });
    expect(remoteExchange.statusCode).toBe(403);
  });

  it('names its stylesheet and script by their content, so the browser keeps them and a page waits on no other request', async () => {
    const relay = await setup.start();
    const client = await signIn(relay.console!.url);
    const page = (await client.get('/console/conversations')).text;
    const css = /<link rel="stylesheet" href="([^"]+)">/.exec(page)?.[1];
    const js = /<script src="([^"]+)" defer>/.exec(page)?.[1];
    expect(css).toMatch(/^\/console\/assets\/console\.css\?v=[0-9a-f]{12}$/);
    expect(js).toMatch(/^\/console\/assets\/console\.js\?v=[0-9a-f]{12}$/);
    const current = await client.get(css!);
    expect(current.status).toBe(200);
    expect(current.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    // Any other version (a page from before an upgrade) gets today's file, not kept.
    const old = await client.get('/console/assets/console.css?v=000000000000');
    expect(old.text).toBe(current.text);
    expect(old.headers.get('cache-control')).toBe('no-cache');
  });

  it('keeps one token in the secret store across restarts', async () => {
    const first = (await setup.start()).console!.url;
    await setup.relay!.close();
    const second = (await setup.start()).console!.url;
    const token = (url: string) => new URL(url).searchParams.get('token');
    expect(token(first)).toBe(token(second));
    expect(await setup.secrets.get(CONSOLE_TOKEN_KEY)).toBe(token(first));
    expect(await consoleToken(setup.secrets)).toBe(token(first));
  });

  it('refuses a POST without the CSRF token, from another origin or another site, and sends nothing', async () => {
    const relay = await setup.start();
    await customerWrites('hello');
    const client = await signIn(relay.console!.url);
    const send = `${conversationPath()}/send`;
    expect((await client.post(send, { text: 'no token', _csrf: '' })).status).toBe(403);
    expect((await client.post(send, { text: 'wrong token', _csrf: 'x'.repeat(43) })).status).toBe(403);
    expect((await client.post(send, { text: 'other origin' }, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await client.post(send, { text: 'other site' }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect(sandbox.sent()).toHaveLength(0);
    const ok = await client.post(send, { text: 'with the token' });
    expect(ok.status).toBe(303);
    await eventually(() => expect(sandbox.sent(CUSTOMER).map((s) => (s.body as any).text?.body)).toEqual(['with the token']));
  });
});

describe('what it shows', () => {
  it('shows a <script> in a message as text, in the feed, the delivery, the conversation list and the thread', async () => {
    const relay = await setup.start();
    const evil = '<script>alert("x")</script><img src=x onerror=alert(1)>';
    sandbox.sendInbound([{ from: CUSTOMER, name: '<b>Mallory</b>', type: 'text', text: evil }]);
    await eventually(() => expect(relay.deliveries.list({ kind: 'message', limit: 5 })).toHaveLength(1));
    const client = await signIn(relay.console!.url);
    const id = relay.deliveries.list({ kind: 'message', limit: 1 })[0]!.id;
    await eventually(async () => expect((await client.get('/console/conversations')).text).toContain('Mallory'));
    for (const path of ['/console', `/console/deliveries/${id}`, '/console/conversations', conversationPath()]) {
      const page = await client.get(path);
      expect(page.status, path).toBe(200);
      expect(page.text, path).not.toContain('<script>alert');
      expect(page.text, path).not.toContain('<img src=x');
      expect(page.text, path).not.toContain('<b>Mallory');
    }
    expect((await client.get(conversationPath())).text).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  });

  it('shows a right-to-left override in a name or a message as its code, so it cannot reverse what follows it', async () => {
    const relay = await setup.start();
    sandbox.sendInbound([{ from: CUSTOMER, name: 'Bank Support \u202e', type: 'text', text: 'pay \u2067here\u202e now' }]);
    await eventually(() => expect(relay.deliveries.list({ kind: 'message', limit: 5 })).toHaveLength(1));
    const client = await signIn(relay.console!.url);
    const id = relay.deliveries.list({ kind: 'message', limit: 1 })[0]!.id;
    await eventually(async () => expect((await client.get('/console/conversations')).text).toContain('Bank Support'));
    for (const path of ['/console', `/console/deliveries/${id}`, '/console/conversations', conversationPath()]) {
      const page = await client.get(path);
      expect(page.status, path).toBe(200);
      expect(page.text, path).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    }
    expect((await client.get(conversationPath())).text).toContain('pay \\u2067here\\u202e now');
  });

  it('sums up a delivery that repeats a message as that one message, as the relay stores and answers it', async () => {
    const relay = await setup.start();
    const twice = { wamid: 'wamid.CONSOLEtwice=', from: CUSTOMER, body: 'said twice' };
    const body = toBody(delivery(entry([messagesChange(setup.integration.phoneNumberId, inbound([twice, twice]))])));
    const answer = await postSigned(`${relay.url}/webhooks/whatsapp/${setup.integration.id}`, body, sandbox.appSecret);
    expect(answer.json).toEqual({ status: 'received', messages: 1 });
    const [logged] = relay.deliveries.list({ kind: 'message', limit: 5 });
    expect(logged?.summary).toBe('1 message: said twice');
  });

  it('records each webhook with its headers, exact body, signature check and answer; filters by kind, number and text', async () => {
    const relay = await setup.start();
    await customerWrites('first words');
    const unsigned = await fetch(`${relay.url}/webhooks/whatsapp/${setup.integration.id}`, { method: 'POST', body: '{"object":"x"}', headers: { 'content-type': 'application/json' } });
    expect(unsigned.status).toBe(401);
    const unknown = await fetch(`${relay.url}/webhooks/whatsapp/wa_nobody`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
    await eventually(() => expect(relay.deliveries.list({ limit: 10 })).toHaveLength(3));

    const [notFound, rejected, message] = relay.deliveries.list({ limit: 10 });
    expect(message).toMatchObject({ kind: 'message', status: 200, signature: 'valid', integrationId: setup.integration.id });
    expect(message!.body.toString()).toContain('first words');
    expect(message!.headers['x-hub-signature-256']).toMatch(/^sha256=/);
    expect(JSON.parse(message!.answer)).toEqual({ status: 'received', messages: 1 });
    expect(rejected).toMatchObject({ kind: 'rejected', status: 401, signature: 'missing', summary: 'Missing X-Hub-Signature-256.' });
    expect(notFound).toMatchObject({ kind: 'rejected', status: 404, summary: 'No integration with this id.' });

    const client = await signIn(relay.console!.url);
    const rows = (text: string) => [...text.matchAll(/<tr data-id="(\d+)"/g)].map((m) => Number(m[1]));
    expect(rows((await client.get('/console')).text)).toEqual([notFound!.id, rejected!.id, message!.id]);
    expect(rows((await client.get('/console?kind=message')).text)).toEqual([message!.id]);
    expect(rows((await client.get(`/console?number=${CUSTOMER}`)).text)).toEqual([message!.id]);
    expect(rows((await client.get('/console?text=first+words')).text)).toEqual([message!.id]);
    // A workspace that is not there is said, not shown as another without a word
    expect((await client.get('/console?ws=nope')).text).toContain('No workspace &quot;nope&quot;: this is default.');
    // A filter given twice is the first one (never a 500)
    expect(rows((await client.get('/console?text=first+words&text=other')).text)).toEqual([message!.id]);
    expect(rows((await client.get(`/console?number=${CUSTOMER}&number=1`)).text)).toEqual([message!.id]);
    const detail = await client.get(`/console/deliveries/${message!.id}`);
    expect(detail.text).toContain('x-hub-signature-256');
    expect(detail.text).toContain('signature <strong>valid</strong>');
  });

  it('streams each delivery as a server-sent event', async () => {
    const relay = await setup.start();
    const client = await signIn(relay.console!.url);
    const response = await fetch(`${client.base}/console/stream`, { headers: { cookie: client.cookie } });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    let text = '';
    const arrived = (async () => {
      while (!text.includes('event: delivery')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
    })();
    // The stream is open once its first bytes arrived; then the customer writes.
    await eventually(() => expect(text).toContain('retry:'));
    await customerWrites('live one');
    await arrived;
    const data = JSON.parse(/event: delivery\ndata: (.*)\n/.exec(text)![1]!);
    expect(data).toMatchObject({ kind: 'message', status: 200, signature: 'valid' });
    expect(data.text).toContain('live one');
    await reader.cancel();
  });

  it('previews media from LUMEN_HOME/media: images inline, other files as downloads', async () => {
    const relay = await setup.start();
    const png = Buffer.from('\x89PNG\r\n\x1a\n a tiny picture');
    sandbox.sendInbound([
      { from: CUSTOMER, name: 'Ana', type: 'image', caption: 'my receipt', data: png, mimeType: 'image/png' },
      { from: CUSTOMER, name: 'Ana', type: 'document', data: Buffer.from('%PDF-1.4 tiny'), mimeType: 'application/pdf', filename: 'invoice.pdf' },
    ]);
    await eventually(() => expect(setup.events.filter((e) => e.event === 'media' && e.ok)).toHaveLength(2));
    const client = await signIn(relay.console!.url);
    const thread = (await client.get(conversationPath())).text;
    const image = /<img src="(\/console\/media\/[^"]+)" alt="my receipt">/.exec(thread)![1]!;
    const shown = await fetch(`${client.base}${image}`, { headers: { cookie: client.cookie } });
    expect(shown.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await shown.arrayBuffer())).toEqual(png);
    const file = /<a href="(\/console\/media\/[^"]+)\?download=1">Download invoice\.pdf/.exec(thread)![1]!;
    const downloaded = await client.get(`${file}?download=1`);
    expect(downloaded.headers.get('content-disposition')).toBe('attachment; filename="invoice.pdf"');
    expect(downloaded.text).toBe('%PDF-1.4 tiny');
    expect((await client.get(`/console/media/${setup.integration.id}/999999`)).status).toBe(404);
    // Without the token, no file.
    expect((await fetch(`${client.base}${image}`)).status).toBe(401);
  });

  it('pages conversations and threads without gaps or repeats', async () => {
    const relay = await setup.start();
    const ws = setup.integration.workspaceId;
    const base = Date.parse('2026-12-01T10:00:00Z');
    const jobs = Array.from({ length: 120 }, (_, i) => ({
      workspaceId: ws,
      receivedAt: new Date(base + i * 1000).toISOString(),
      messages: [
        {
          integrationId: setup.integration.id,
          channel: 'whatsapp' as const,
          wamid: `wamid.page${i}`,
          phoneNumberId: sandbox.phoneNumberId,
          // 60 contacts write once; one contact writes the other 60 times.
          from: i < 60 ? String(15550000000 + i) : CUSTOMER,
          fromKind: 'phone' as const,
          contactName: null,
          userId: null,
          parentUserId: null,
          media: null,
          type: 'text',
          text: `message ${i}`,
          mediaId: null,
          replyTo: null,
          timestamp: new Date(base + i * 1000).toISOString(),
          raw: { id: `wamid.page${i}`, type: 'text', text: { body: `message ${i}` } },
        },
      ],
      statuses: [],
      enqueueDispatch: false,
    }));
    await setup.store.inbox.ingest(jobs);
    const client = await signIn(relay.console!.url);

    const contactsOf = (text: string) => [...text.matchAll(/href="\/console\/conversations\/[^/]+\/(\d+)"/g)].map((m) => m[1]!);
    const first = await client.get('/console/conversations');
    const more = /href="(\/console\/conversations\?[^"]+)">More/.exec(first.text)![1]!.replaceAll('&amp;', '&');
    const second = await client.get(more);
    const all = [...contactsOf(first.text), ...contactsOf(second.text)];
    expect(contactsOf(first.text)).toHaveLength(50);
    expect(new Set(all).size).toBe(61);
    expect(all[0]).toBe(CUSTOMER);

    const bodies = (text: string) => [...text.matchAll(/<p class="text">message (\d+)<\/p>/g)].map((m) => Number(m[1]));
    const newest = await client.get(conversationPath());
    expect(bodies(newest.text)).toEqual(Array.from({ length: 50 }, (_, i) => 70 + i));
    const earlier = /href="([^"]+)">Earlier messages/.exec(newest.text)![1]!.replaceAll('&amp;', '&');
    expect(bodies((await client.get(earlier)).text)).toEqual(Array.from({ length: 10 }, (_, i) => 60 + i));
  });
});

describe('actions go through the outbox, approvals and the dispatch queue', () => {
  it('a reply is sent through the outbox and shows its ticks as the statuses arrive', async () => {
    const relay = await setup.start();
    await customerWrites('hi there');
    const client = await signIn(relay.console!.url);
    const page = await client.get(conversationPath());
    expect(page.text).toMatch(/24-hour window open: 2[34] h/);
    const key = /name="idempotency_key" value="([^"]+)"/.exec(page.text)![1]!;
    const sent = await client.post(`${conversationPath()}/send`, { text: 'Hello from the console', idempotency_key: key });
    expect(sent.status).toBe(303);
    expect(flash(sent)).toMatch(/notice=Sent msg_/);
    // The same form sent twice (a reload, a double click) sends once: its idempotency key.
    await client.post(`${conversationPath()}/send`, { text: 'Hello from the console', idempotency_key: key });
    await eventually(async () => expect((await client.get(conversationPath())).text).toMatch(/data-state="read"/));
    expect(sandbox.sent(CUSTOMER)).toHaveLength(1);
    const [row] = await setup.store.outbound.listByState(setup.integration.workspaceId, 'read', 10);
    expect(row).toMatchObject({ source: 'console', idempotencyKey: key });
  });

  it('outside the window offers a template form built from the synced parameters, and refuses a missing one', async () => {
    const relay = await setup.start();
    await customerWrites('old message');
    // The contact's window closes: it wrote two days ago.
    const old = new Date(Date.now() - 48 * 3600_000).toISOString();
    const db = await import('better-sqlite3');
    const raw = new db.default(setup.home.path('lumen.db'));
    raw.prepare('UPDATE contacts SET last_inbound_at = ?').run(old);
    raw.close();

    const client = await signIn(relay.console!.url);
    const page = await client.get(conversationPath());
    expect(page.text).toContain('24-hour window closed');
    expect(page.text).not.toContain('id="reply"');
    const form = await client.get(`${conversationPath()}?template=${encodeURIComponent('order_update|en_US')}`);
    // order_update: a header parameter, two body parameters and a URL button's.
    expect([...form.text.matchAll(/<input name="param"/g)]).toHaveLength(4);

    const missing = await client.post(`${conversationPath()}/send`, { template: 'order_update|en_US', param: ['#42', 'Ana', '', 'TRACK42'] });
    expect(missing.status).toBe(303);
    expect(flash(missing)).toMatch(/error=.*parameter/i);
    expect(sandbox.sent()).toHaveLength(0);

    const ok = await client.post(`${conversationPath()}/send`, { template: 'order_update|en_US', param: ['#42', 'Ana', '#42', 'TRACK42'] });
    expect(flash(ok)).toMatch(/notice=Sent/);
    await eventually(() => expect(sandbox.sent(CUSTOMER)).toHaveLength(1));
    expect((sandbox.sent(CUSTOMER)[0]!.body as any).template.name).toBe('order_update');
  });

  it('a held message shows "waiting for approval"; approving sends it and records the OS user; rejecting needs a reason', async () => {
    await setup.store.workspaces.setApprovalPolicy(setup.integration.workspaceId, 'all');
    const relay = await setup.start();
    await customerWrites('please answer');
    const client = await signIn(relay.console!.url);
    const held = await client.post(`${conversationPath()}/send`, { text: 'An answer to approve' });
    expect(flash(held)).toMatch(/waiting for approval/);
    expect((await client.get(conversationPath())).text).toContain('waiting for approval');
    const second = await client.post(`${conversationPath()}/send`, { text: 'An answer to reject' });
    expect(second.status).toBe(303);
    expect(sandbox.sent()).toHaveLength(0);

    const list = await client.get('/console/approvals');
    const ids = [...list.text.matchAll(/<li data-id="(msg_[^"]+)"/g)].map((m) => m[1]!);
    expect(ids).toHaveLength(2);
    const byText = async (text: string) => (await setup.store.outbound.listByState(setup.integration.workspaceId, 'pending_approval', 10)).find((m) => (m.body as any).text.body === text)!.id;
    const approveId = await byText('An answer to approve');
    const rejectId = await byText('An answer to reject');

    const noReason = await client.post(`/console/approvals/${rejectId}/reject`, { reason: ' ' });
    expect(flash(noReason)).toMatch(/error=Say why/);
    await client.post(`/console/approvals/${rejectId}/reject`, { reason: 'too blunt' });
    const approved = await client.post(`/console/approvals/${approveId}/approve`, {});
    expect(flash(approved)).toMatch(/notice=Approved and sent/);

    await eventually(() => expect(sandbox.sent(CUSTOMER).map((s) => (s.body as any).text.body)).toEqual(['An answer to approve']));
    const a = await setup.store.outbound.findById(approveId);
    const r = await setup.store.outbound.findById(rejectId);
    expect(a).toMatchObject({ approvedBy: currentUser({}) });
    expect(a!.approvedAt).not.toBeNull();
    expect(r).toMatchObject({ state: 'rejected', rejectedBy: currentUser({}), rejectReason: 'too blunt' });
    // Decided once: approving the rejected one says so.
    const again = await client.post(`/console/approvals/${rejectId}/approve`, {});
    expect(flash(again)).toMatch(/already rejected/);
  });

  it('your code: a failing delivery shows its attempts and error; drop stops it, retry brings it back, replay sends edited JSON', async () => {
    let failing = true;
    target = await startForwardTarget(() => (failing ? 500 : 200));
    const relay = await setup.start({ forwardTo: target.url });
    const id = await customerWrites('for your code');
    await eventually(() => expect(target!.requests.length).toBeGreaterThanOrEqual(1));
    const eventId = Number(id.replace('in_', ''));
    const client = await signIn(relay.console!.url);
    await eventually(async () => expect((await client.get('/console/events')).text).toContain('HTTP 500'));

    await client.post(`/console/events/${eventId}/drop`, {});
    expect((await setup.store.dispatch.find(eventId))!.state).toBe('dropped');
    expect((await client.get('/console/events?state=dropped')).text).toContain(`/console/events/${eventId}"`);

    failing = false;
    const detail = await client.get(`/console/events/${eventId}`);
    expect(detail.text).toContain('&quot;for your code&quot;');
    const edited = JSON.stringify({ edited: true, text: 'changed by hand' });
    const replay = await client.post(`/console/events/${eventId}/replay`, { json: edited });
    expect(flash(replay)).toMatch(/notice=Delivered to/);
    expect(target.accepted().at(-1)!.body).toBe(edited);
    expect((await setup.store.dispatch.find(eventId))!.state).toBe('delivered');

    const bad = await client.post(`/console/events/${eventId}/replay`, { json: '{not json' });
    expect(flash(bad)).toMatch(/error=The edited JSON does not parse/);

    const before = target.accepted().length;
    await client.post(`/console/events/${eventId}/retry`, {});
    await eventually(() => expect(target!.accepted().length).toBe(before + 1));
    expect(JSON.parse(target.accepted().at(-1)!.body)).toMatchObject({ id, text: 'for your code' });
  });

  it('your code: an event your code keeps refusing (a status, --events) is listed by its id; drop stops it, retry sends it again', async () => {
    let failing = true;
    target = await startForwardTarget(() => (failing ? 500 : 200));
    const relay = await setup.start({ forwardTo: target.url, events: new Set(['preferences']) });
    const posted = await fetch(`${sandbox.url}/_sandbox/events`, {
      method: 'POST',
      body: JSON.stringify({ what: 'preferences', user: CUSTOMER, value: 'stop' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(posted.status).toBe(202);
    await eventually(() => expect(target!.requests.length).toBeGreaterThanOrEqual(1));
    const [record] = await setup.store.forwards.events.list({ workspaceId: setup.integration.workspaceId, failedOnly: false, limit: 5 });
    const ref = `ev_${record!.id}`;
    const client = await signIn(relay.console!.url);
    await eventually(async () => expect((await client.get('/console/events')).text).toMatch(new RegExp(`<td>${ref}</td><td>preferences</td>.*HTTP 500`, 's')));

    expect(flash(await client.post(`/console/forwards/${ref}/drop`, {}))).toMatch(/notice=.*dropped/);
    expect((await setup.store.forwards.events.find(record!.id))!.state).toBe('dropped');
    failing = false;
    const before = target.accepted().length;
    expect(flash(await client.post(`/console/forwards/${ref}/retry`, {}))).toMatch(/notice=.*queued again/);
    await eventually(() => expect(target!.accepted().length).toBe(before + 1));
    expect(JSON.parse(target.accepted().at(-1)!.body)).toMatchObject({ object: 'preferences', value: 'stop' });
    expect((await client.post('/console/forwards/ev_999999/drop', {})).status).toBe(404);
    expect((await client.post(`/console/forwards/${ref}/explode`, {})).status).toBe(404);
  });

  it('your code: what your code answers to a replay is sent to the customer, once, as the relay sends its replies', async () => {
    let failing = true;
    target = await startForwardTarget(() => (failing ? 500 : 200), 0, () => JSON.stringify({ reply: { text: 'answered on replay' } }));
    const relay = await setup.start({ forwardTo: target.url });
    const id = await customerWrites('answer me');
    const eventId = Number(id.replace('in_', ''));
    await eventually(() => expect(target!.requests.length).toBeGreaterThanOrEqual(1));
    const client = await signIn(relay.console!.url);
    await client.post(`/console/events/${eventId}/drop`, {});
    failing = false;
    const sentBefore = sandbox.sent(CUSTOMER).length;
    expect(flash(await client.post(`/console/events/${eventId}/replay`, { json: '{"edited":true}' }))).toMatch(/notice=Delivered to/);
    const replies = () => sandbox.sent(CUSTOMER).slice(sentBefore).filter((m) => (m.body as any).text?.body === 'answered on replay');
    expect(replies()).toHaveLength(1);
    // Replayed again: the message was answered; nothing is sent twice
    expect(flash(await client.post(`/console/events/${eventId}/replay`, { json: '{"edited":true}' }))).toMatch(/notice=Delivered to/);
    expect(replies()).toHaveLength(1);
  });

  it("your code: a replay to an --exec command shows what it printed in the relay's output, as the relay's own deliveries do", async () => {
    const relay = await setup.start({ exec: 'read -r line; echo "replayed: $LUMEN_INTERACTION_ID"; echo "oops" >&2; exit 2' });
    const id = await customerWrites('for a command');
    const eventId = Number(id.replace('in_', ''));
    await eventually(() => expect(setup.events).toContainEqual(expect.objectContaining({ event: 'dispatch', ok: false, eventId })));
    const client = await signIn(relay.console!.url);
    // (dropped first: the relay's own retries then leave the replay the event)
    await client.post(`/console/events/${eventId}/drop`, {});
    const printedBefore = setup.events.filter((e) => e.event === 'handler_output').length;
    const replay = await client.post(`/console/events/${eventId}/replay`, { json: '{"edited":true}' });
    expect(flash(replay)).toMatch(/error=Delivery to .* failed: exit code 2: oops/);
    const printed = setup.events.filter((e) => e.event === 'handler_output').slice(printedBefore);
    expect(printed).toEqual(
      expect.arrayContaining([
        { event: 'handler_output', interactionId: id, stream: 'stdout', text: `replayed: ${id}` },
        { event: 'handler_output', interactionId: id, stream: 'stderr', text: 'oops' },
      ]),
    );
  });

  it('a stored delivery saved as a file is sent again, signed, by trigger --file (a redelivery, stored once)', async () => {
    const relay = await setup.start();
    const id = await customerWrites('keep this one');
    const client = await signIn(relay.console!.url);
    const feedId = relay.deliveries.list({ kind: 'message', limit: 1 })[0]!.id;

    const exact = await client.get(`/console/deliveries/${feedId}/file`);
    expect(exact.headers.get('content-disposition')).toBe(`attachment; filename="delivery-${feedId}.json"`);
    expect(exact.text).toBe(relay.deliveries.get(feedId)!.body.toString());
    const stored = await client.get(`/console/messages/${id}/file`);
    for (const [name, text] of [['exact.json', exact.text], ['stored.json', stored.text]] as const) {
      writeFileSync(setup.home.path(name), text);
      const file = await readDeliveryFile(setup.home.path(name));
      expect(file.phoneNumberId).toBe(sandbox.phoneNumberId);
      const result = await postTriggerFile(setup.services, setup.integration, `${relay.url}/webhooks/whatsapp/${setup.integration.id}`, file.bytes);
      expect(result.status, name).toBe(200);
      expect(result.response).toEqual({ status: 'received', messages: 1 });
    }
    await eventually(() => expect(relay.deliveries.list({ kind: 'message', limit: 10 })).toHaveLength(3));
    expect(relay.deliveries.list({ kind: 'message', limit: 10 }).map((d) => d.signature)).toEqual(['valid', 'valid', 'valid']);
    expect(await setup.store.inbox.listInteractions({ workspaceId: setup.integration.workspaceId, limit: 10 })).toHaveLength(1);
  });

  it('templates and relay pages show what exists', async () => {
    const relay = await setup.start({ publicUrl: 'https://relay.example' });
    await customerWrites('count me');
    const client = await signIn(relay.console!.url);
    const templates = await client.get('/console/templates');
    expect(templates.text).toContain('order_update');
    expect(templates.text).toContain('APPROVED');
    expect(templates.text).toContain('body:first_name');
    const page = await client.get('/console/relay');
    expect(page.text).toContain(`https://relay.example/webhooks/whatsapp/${setup.integration.id}`);
    expect(page.text).toMatch(/<td id="queue">0 to your code · 0 to send · 0 awaiting approval/);
    expect(page.text).toContain('<svg');
  });
});
