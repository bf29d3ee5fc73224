/**
 * Every webhook field lumen acts on, in process: the real relay on 127.0.0.1, a real SQLite file, the sandbox over
 * HTTP as the Graph API and as Meta's webhook sender (`POST /_sandbox/events` plays each field). Each field's sample
 * changes what the CLI shows (`templates list`, `messages show`, `messages list`, `contacts list`, `usage`,
 * `whatsapp status`, run once each as the built CLI on the same LUMEN_HOME); a paused template and an opted-out
 * contact are refused before Meta; `--events` and `--forward-raw` hand on what they say.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/relay/events.js';
import { startRelay, type RelayHandle, type RelayOptions } from '../../src/relay/server.js';
import { metaSignatureHeaders } from '../../src/sandbox/webhooks.js';
import { serializeLikeMeta } from '../../src/sandbox/payloads.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import type { ServiceDeps } from '../../src/services/deps.js';
import { sendOne } from '../../src/services/messages/send.js';
import { runBulk, type BulkRowResult } from '../../src/services/messages/bulk.js';
import { openCsv } from '../../src/services/messages/csv.js';
import { DEFAULT_SEND_RATE, DEFAULT_WORKSPACE_SEND_RATE, numberSendRate } from '../../src/services/messages/outbox.js';
import type { Integration, Store, Workspace } from '../../src/store/types.js';
import { eventually } from '../helpers/async.js';
import { lumen } from '../helpers/cli.js';
import type { LumenHome } from '../helpers/home.js';
import { startForwardTarget, type ForwardTarget } from '../helpers/relay.js';
import { connectedHome, type ConnectedHome } from '../helpers/services.js';

const CUSTOMER = '15551234567';
const RATES = { perIntegration: DEFAULT_SEND_RATE, perWorkspace: DEFAULT_WORKSPACE_SEND_RATE };

let sandbox: SandboxHandle;
let connected: ConnectedHome;
let home: LumenHome;
let store: Store;
let workspace: Workspace;
let integration: Integration;
let relay: RelayHandle | undefined;
let target: ForwardTarget | undefined;
let events: RelayEvent[];

beforeAll(async () => {
  sandbox = await startSandbox({ webhookDelayMs: 5 });
});
afterAll(() => sandbox.close());
beforeEach(async () => {
  sandbox.reset();
  connected = await connectedHome(sandbox);
  ({ home, store, workspace, integration } = connected);
  events = [];
});
afterEach(async () => {
  sandbox.setWebhookUrl(undefined);
  await relay?.close();
  relay = undefined;
  await target?.close();
  target = undefined;
  await connected.close();
});

function services(): ServiceDeps {
  return connected.services();
}

async function start(options: Partial<RelayOptions> = {}): Promise<RelayHandle> {
  relay = await startRelay(
    { ...services(), onEvent: (event) => events.push(event) },
    { host: '127.0.0.1', port: 0, mediaDir: home.path('media'), localApi: true, ...options },
  );
  sandbox.setWebhookUrl(`${relay.url}/webhooks/whatsapp/${integration.id}`);
  return relay;
}

/** The sandbox sends Meta's webhook for a field (`POST /_sandbox/events`); resolves once the relay answered it. */
async function play(spec: Record<string, unknown>): Promise<void> {
  const before = sandbox.webhooks().filter((d) => d.delivered).length;
  const response = await fetch(`${sandbox.url}/_sandbox/events`, { method: 'POST', body: JSON.stringify(spec), headers: { 'content-type': 'application/json' } });
  expect(response.status).toBe(202);
  await eventually(() => expect(sandbox.webhooks().filter((d) => d.delivered).length).toBeGreaterThan(before));
}

/** A delivery signed like Meta's, posted straight to the relay. */
async function postSigned(payload: unknown): Promise<Response> {
  const body = serializeLikeMeta(payload);
  return fetch(`${relay!.url}/webhooks/whatsapp/${integration.id}`, { method: 'POST', headers: metaSignatureHeaders(body, sandbox.appSecret), body });
}

async function cli(...args: string[]): Promise<any> {
  const result = await lumen([...args, '--json'], { env: home.env });
  expect(result.stderr).not.toMatch(/at .*\.js:\d+/); // never a stack trace
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

/** What a person sees: the command's human output. */
async function cliText(...args: string[]): Promise<string> {
  const result = await lumen(args, { env: home.env });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.stdout;
}

async function customerWrites(text = 'hi'): Promise<string> {
  sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text }]);
  const interaction = await eventually(async () => {
    const [latest] = await store.inbox.listInteractions({ workspaceId: workspace.id, limit: 1 });
    expect(latest?.text).toBe(text);
    return latest!;
  });
  return interaction.wamid;
}

function sendTemplate(name: string, params: string[] = []) {
  return sendOne(services(), {
    workspace,
    integration,
    to: CUSTOMER,
    message: { kind: 'template', name, language: 'en_US', params },
    rates: RATES,
    source: 'cli',
  });
}

describe('statuses: pricing per sent message', () => {
  it('is recorded from each status, shown by messages show and summed by usage; unknown categories are kept', async () => {
    await start();
    await customerWrites();
    const marketing = await sendTemplate('welcome', ['first_name=Ana', 'shop=Lumen']);
    const text = await sendOne(services(), { workspace, integration, to: CUSTOMER, message: { kind: 'text', text: 'thanks' }, rates: RATES, source: 'cli' });
    await eventually(async () => {
      expect((await store.outbound.findById(marketing.message.id))?.state).toBe('read');
      expect((await store.outbound.findById(text.message.id))?.state).toBe('read');
    });
    expect((await store.outbound.findById(marketing.message.id))?.pricing).toEqual({ model: 'PMP', category: 'marketing', type: 'regular', billable: true });
    expect((await store.outbound.findById(text.message.id))?.pricing).toMatchObject({ category: 'service', billable: false });

    // A category Meta adds later is kept as it is, not refused.
    const future = await sendOne(services(), { workspace, integration, to: CUSTOMER, message: { kind: 'text', text: 'more' }, rates: RATES, source: 'cli' });
    await eventually(async () => expect((await store.outbound.findById(future.message.id))?.state).toBe('read'));
    const answer = await postSigned({
      object: 'whatsapp_business_account',
      entry: [{ id: sandbox.wabaId, changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550104242', phone_number_id: sandbox.phoneNumberId }, statuses: [{ id: future.message.wamid, status: 'failed', timestamp: '1700000000', recipient_id: CUSTOMER, pricing: { billable: true, pricing_model: 'PMP', category: 'marketing_lite', type: 'regular' } }] } }] }],
    });
    expect(answer.status).toBe(200);
    expect((await store.outbound.findById(future.message.id))?.pricing?.category).toBe('marketing_lite');

    const shown = await cli('messages', 'show', marketing.message.id);
    expect(shown.pricing).toEqual({ model: 'PMP', category: 'marketing', type: 'regular', billable: true });
    const human = await lumen(['messages', 'show', marketing.message.id], { env: home.env });
    expect(human.stdout).toMatch(/Pricing\s+marketing · regular · PMP · billable/);

    const usage = await cli('usage', '--since', '1d');
    const byCategory = Object.fromEntries(usage.categories.map((c: any) => [c.category, c]));
    expect(byCategory.marketing).toMatchObject({ total: 1, sent: 1, delivered: 1, read: 1, failed: 0, billable: 1 });
    expect(byCategory.service).toMatchObject({ total: 1, read: 1, billable: 0 });
    expect(byCategory.marketing_lite).toMatchObject({ total: 1, billable: 1 });
    expect(usage.total).toMatchObject({ messages: 3, billable: 2 });
    // Human output names the start in local time with its zone, as every other command does.
    const humanUsage = await lumen(['usage', '--since', '1d'], { env: { ...home.env, TZ: 'UTC' } });
    expect(humanUsage.stdout).toMatch(/^Messages sent since \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \(by/);
  });
});

describe('templates: Meta\'s webhooks update the synced template at once', () => {
  it('a paused template is refused with Meta\'s reason before any Graph call; category, quality and components follow', async () => {
    await start();
    await play({ what: 'template', template: 'hello_world', language: 'en_US', event: 'PAUSED', reason: 'FIRST_PAUSE' });
    const [paused] = await store.templates.findByName(integration.id, 'hello_world');
    expect(paused).toMatchObject({ status: 'PAUSED', statusReason: 'FIRST_PAUSE' });

    const sendsBefore = sandbox.sent().length;
    await expect(sendTemplate('hello_world')).rejects.toMatchObject({
      code: 'template_not_approved',
      message: expect.stringMatching(/PAUSED.*FIRST_PAUSE/),
    });
    expect(sandbox.sent()).toHaveLength(sendsBefore); // the sandbox saw no send

    await play({ what: 'template-category', template: 'order_update', language: 'en_US', category: 'MARKETING' });
    await play({ what: 'template-quality', template: 'appointment_reminder', language: 'en_US', quality: 'RED' });
    await play({ what: 'template-components', template: 'welcome', language: 'en_US', text: 'Hi {{first_name}}, new at {{shop}}!' });
    await play({ what: 'template', template: 'promo_rejected', language: 'en_US', event: 'REJECTED', reason: 'INVALID_FORMAT' });

    const listed = await cli('templates', 'list');
    const find = (name: string) => listed.find((t: any) => t.name === name && t.language === 'en_US');
    expect(find('hello_world')).toMatchObject({ status: 'PAUSED', reason: 'FIRST_PAUSE' });
    expect(find('order_update')).toMatchObject({ category: 'MARKETING' });
    expect(find('appointment_reminder')).toMatchObject({ quality: 'RED' });
    expect(find('promo_rejected')).toMatchObject({ status: 'REJECTED', reason: expect.stringContaining('INVALID_FORMAT') });
    const [welcome] = await store.templates.findByName(integration.id, 'welcome');
    expect(welcome!.raw.components?.find((c: any) => c.type === 'BODY')?.text).toBe('Hi {{first_name}}, new at {{shop}}!');

    // Approved again: sendable, and the reason is gone.
    await play({ what: 'template', template: 'hello_world', language: 'en_US', event: 'APPROVED' });
    expect((await store.templates.findByName(integration.id, 'hello_world'))[0]).toMatchObject({ status: 'APPROVED', statusReason: null });
  });

  it('REINSTATED approves a paused template again, FLAGGED lowers its quality, an event lumen does not know changes nothing', async () => {
    await start();
    await play({ what: 'template', template: 'hello_world', language: 'en_US', event: 'PAUSED', reason: 'FIRST_PAUSE' });
    await play({ what: 'template', template: 'hello_world', language: 'en_US', event: 'REINSTATED' });
    expect((await store.templates.findByName(integration.id, 'hello_world'))[0]).toMatchObject({ status: 'APPROVED' });
    await play({ what: 'template', template: 'hello_world', language: 'en_US', event: 'FLAGGED' });
    await play({ what: 'template', template: 'hello_world', language: 'en_US', event: 'SOMETHING_NEW' });
    expect((await store.templates.findByName(integration.id, 'hello_world'))[0]).toMatchObject({ status: 'APPROVED', qualityScore: 'RED' });
    await expect(sendTemplate('hello_world')).resolves.toBeDefined();
  });

  it('shows a template whose text a webhook changed with its control characters escaped', async () => {
    await start();
    await play({ what: 'template-components', template: 'welcome', language: 'en_US', text: 'Hi {{first_name}}\u001b]0;pwned\u0007\u001b[2J' });
    const shown = await cliText('templates', 'show', 'welcome', '--lang', 'en_US');
    expect(shown).not.toMatch(/[\u0007\u001b]/);
    expect(shown).toContain('Hi {{first_name}}\\u001b]0;pwned\\u0007\\u001b[2J');
  });
});

describe('account: quality, messaging limit, restriction, coexistence', () => {
  it('are recorded and shown by whatsapp status; a coexistence number sends at 20/s by default', async () => {
    await start();
    expect(await numberSendRate(services(), integration, DEFAULT_SEND_RATE)).toBe(DEFAULT_SEND_RATE);
    await play({ what: 'quality', event: 'DOWNGRADE', limit: 'TIER_10K', quality: 'YELLOW' });
    await play({ what: 'account', restriction: 'RESTRICTED_BIZ_INITIATED_MESSAGING' });
    await play({ what: 'account', coexistence: true });
    await play({ what: 'capability', limit: '10000' });

    const status = await cli('whatsapp', 'status');
    expect(status.integrations[0].account).toMatchObject({
      qualityRating: 'YELLOW',
      messagingLimit: '10000',
      coexistence: true,
      sendRate: 20,
    });
    const human = await lumen(['whatsapp', 'status'], { env: home.env });
    expect(human.stdout).toMatch(/Account\s+quality YELLOW · messaging limit 10000/);
    expect(human.stdout).toMatch(/Coexistence\s+also on the WhatsApp Business app: 20 messages\/s/);
    expect(await numberSendRate(services(), integration, DEFAULT_SEND_RATE)).toBe(20);
    expect(await numberSendRate(services(), integration, 5)).toBe(5); // an explicit rate is kept

    // The restriction came with its own account_update; a later one without a restriction lifts it.
    const facts = await store.facts.accountFacts(integration.id);
    expect(facts?.restriction).toBeNull();
    await play({ what: 'account', restriction: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION' });
    const restricted = await cli('whatsapp', 'status');
    expect(restricted.integrations[0].account.restriction).toMatch(/^RESTRICTED_ADD_PHONE_NUMBER_ACTION until /);
  });
});

describe('preferences: marketing opt-outs', () => {
  it('flag the contact, and marketing templates to them are refused before Meta (utility ones are not)', async () => {
    await start();
    await customerWrites();
    await play({ what: 'preferences', user: CUSTOMER, value: 'stop' });
    const contacts = await cli('contacts', 'list');
    expect(contacts[0]).toMatchObject({ id: CUSTOMER, marketingOptOutAt: expect.any(String) });

    const sendsBefore = sandbox.sent().length;
    await expect(sendTemplate('welcome', ['first_name=Ana', 'shop=Lumen'])).rejects.toMatchObject({
      code: 'marketing_opted_out',
      message: expect.stringContaining('asked to stop marketing messages'),
    });
    expect(sandbox.sent()).toHaveLength(sendsBefore);
    // A bulk send of it refuses that row before Meta too, and sends the others
    const rows: BulkRowResult[] = [];
    const csv = openCsv(`to,first_name,shop\n+${CUSTOMER},Ana,Lumen\n+15550007001,Bo,Lumen\n`);
    const { summary } = await runBulk(services(), { workspace, integration, csv, template: { name: 'welcome' }, rates: RATES, dryRun: false }, (row) => rows.push(row));
    expect(rows.map((r) => [r.line, r.status, r.code ?? null])).toEqual([
      [2, 'opted_out', 'marketing_opted_out'],
      [3, 'sent', null],
    ]);
    // Not a failure: a campaign run again does not fail for it
    expect(summary).toMatchObject({ sent: 1, optedOut: 1, invalid: 0, failed: 0 });
    expect(sandbox.sent().slice(sendsBefore).map((s) => (s.body as { to: string }).to)).toEqual(['15550007001']);
    await expect(sendTemplate('hello_world')).resolves.toBeDefined();

    await play({ what: 'preferences', user: CUSTOMER, value: 'resume', timestamp: Math.floor(Date.now() / 1000) + 5 });
    expect((await cli('contacts', 'list'))[0].marketingOptOutAt).toBeNull();
    await expect(sendTemplate('welcome', ['first_name=Ana', 'shop=Lumen'])).resolves.toBeDefined();
  });
});

describe('coexistence echoes, edits and revokes', () => {
  it('an echo is a message sent from the app; an edit keeps the earlier text; a revoke marks it deleted', async () => {
    await start();
    await play({ what: 'echo', user: CUSTOMER, text: 'typed on the phone', wamid: 'wamid.ECHO1' });
    const echoed = await eventually(async () => {
      const message = await store.outbound.findByWamid('wamid.ECHO1');
      expect(message).toBeDefined();
      return message!;
    });
    expect(echoed).toMatchObject({ source: 'business_app', recipient: CUSTOMER, state: 'sent', kind: 'text' });

    await play({ what: 'edit', user: CUSTOMER, wamid: 'wamid.ECHO1', text: 'typed on the phone, fixed' });
    const shown = await cli('messages', 'show', 'wamid.ECHO1');
    expect(shown.request.text.body).toBe('typed on the phone, fixed');
    expect(shown.previousTexts).toEqual([{ text: 'typed on the phone', at: expect.any(String) }]);

    const inbound = await customerWrites('helo');
    await play({ what: 'edit', user: CUSTOMER, wamid: inbound, text: 'hello' });
    await play({ what: 'revoke', user: CUSTOMER, wamid: 'wamid.ECHO1' });
    const [edited] = await store.inbox.listInteractions({ workspaceId: workspace.id, limit: 1 });
    expect(edited).toMatchObject({ text: 'hello', previousTexts: [{ text: 'helo', at: expect.any(String) }] });
    expect((await cli('messages', 'show', 'wamid.ECHO1')).deletedAt).toEqual(expect.any(String));
    // Edits and revokes are changes to messages, not messages of their own.
    expect(await store.inbox.listInteractions({ workspaceId: workspace.id, limit: 10 })).toHaveLength(1);

    await play({ what: 'revoke', user: CUSTOMER, wamid: inbound });
    const listed = await lumen(['messages', 'list'], { env: home.env });
    expect(listed.stdout).toMatch(/\[deleted\] hello \(edited\)/);
    // messages show says so too, with what the customer wrote before
    const shownIn = await lumen(['messages', 'show', inbound], { env: home.env });
    expect(shownIn.stdout).toMatch(/Text {6}hello \(edited\)\n {4}was "helo" until .+\n/);
    expect(shownIn.stdout).toMatch(/Deleted {3}.+ \(by the customer\)/);
  });
});

describe('an edit of a message lumen sent (made in the WhatsApp Business app)', () => {
  it('changes the text where that message keeps it, and the same request retried under its key is still that message', async () => {
    await start();
    await customerWrites();
    const send = (message: Parameters<typeof sendOne>[1]['message'], key: string) =>
      sendOne(services(), { workspace, integration, to: CUSTOMER, message, rates: RATES, source: 'api', idempotencyKey: key });
    const text = await send({ kind: 'text', text: 'see you at 5' }, 'k-text');
    const image = await send({ kind: 'free_form', input: { kind: 'media', type: 'image', source: { link: 'https://x.test/a.png' }, caption: 'the menu' } }, 'k-image');
    await play({ what: 'edit', user: CUSTOMER, wamid: text.message.wamid, text: 'see you at 6' });
    await play({ what: 'edit', user: CUSTOMER, wamid: image.message.wamid, text: 'the new menu' });
    const shownText = await cli('messages', 'show', text.message.id);
    expect(shownText.request.text.body).toBe('see you at 6');
    const shownImage = await cli('messages', 'show', image.message.id);
    expect(shownImage.request.image).toEqual({ link: 'https://x.test/a.png', caption: 'the new menu' });
    expect(shownImage.request).not.toHaveProperty('text');
    // A retry of the very request is answered with the message, not an idempotency conflict; another one still is
    expect((await send({ kind: 'text', text: 'see you at 5' }, 'k-text')).outcome).toBe('already_sent');
    expect((await send({ kind: 'free_form', input: { kind: 'media', type: 'image', source: { link: 'https://x.test/a.png' }, caption: 'the menu' } }, 'k-image')).outcome).toBe('already_sent');
    await expect(send({ kind: 'text', text: 'something else' }, 'k-text')).rejects.toMatchObject({ code: 'idempotency_conflict' });
    // An image sent without a caption and given one since is still the request that sent it
    const bare = { kind: 'free_form' as const, input: { kind: 'media' as const, type: 'image' as const, source: { link: 'https://x.test/b.png' } } };
    const plain = await send(bare, 'k-bare');
    await play({ what: 'edit', user: CUSTOMER, wamid: plain.message.wamid, text: 'now with words' });
    expect((await cli('messages', 'show', plain.message.id)).request.image).toEqual({ link: 'https://x.test/b.png', caption: 'now with words' });
    expect((await send(bare, 'k-bare')).outcome).toBe('already_sent');
  });
});

describe('relay start --events', () => {
  it('hands on the chosen objects, each document naming its object; the rest are only stored', async () => {
    target = await startForwardTarget();
    await start({ forwardTo: target.url, events: new Set(['messages', 'statuses', 'templates']) });
    await customerWrites();
    await play({ what: 'template', template: 'hello_world', language: 'en_US', event: 'PAUSED' });
    await play({ what: 'account', coexistence: true });
    const sent = await sendOne(services(), { workspace, integration, to: CUSTOMER, message: { kind: 'text', text: 'ok' }, rates: RATES, source: 'cli' });
    const docs = await eventually(() => {
      const all = target!.accepted().map((r) => JSON.parse(r.body));
      expect(all.filter((d) => d.object === 'status' && d.wamid === sent.message.wamid).map((d) => d.status).sort()).toEqual(['delivered', 'read', 'sent']);
      expect(all.some((d) => d.object === 'template')).toBe(true);
      return all;
    });
    expect(docs.find((d) => d.object === 'interaction')).toMatchObject({ text: 'hi', from: CUSTOMER });
    expect(docs.find((d) => d.object === 'template')).toMatchObject({ name: 'hello_world', status: 'PAUSED', integrationId: integration.id });
    expect(docs.find((d) => d.object === 'status')).toMatchObject({ integrationId: integration.id, pricing: { category: 'service' } });
    expect(docs.some((d) => d.object === 'account')).toBe(false);
    expect(await store.facts.accountFacts(integration.id)).toMatchObject({ coexistence: true }); // stored all the same
  });

  it('an event your code keeps refusing is listed as failing, with its id; drop stops it, replay delivers it elsewhere', async () => {
    target = await startForwardTarget(() => 500);
    await start({ forwardTo: target.url, events: new Set(['preferences']) });
    await play({ what: 'preferences', user: CUSTOMER, value: 'stop' });
    const failed = await eventually(() => {
      const found = events.find((e) => e.event === 'forward' && !e.ok);
      expect(found).toBeDefined();
      return found as Extract<RelayEvent, { event: 'forward' }>;
    });
    const id = failed.ref;
    expect(id).toBe(`ev_${failed.id}`);
    const [listed] = await eventually(async () => {
      const failing = await cli('events', 'list', '--failed');
      expect(failing).toHaveLength(1);
      return failing;
    });
    expect(listed).toMatchObject({ id, queue: 'events', object: 'preferences', state: 'retrying', lastStatus: 500, lastError: 'HTTP 500' });
    expect(await cliText('events', 'list')).toMatch(new RegExp(`${id}\\s+retrying\\s+\\d+\\s+HTTP 500 .* preferences event`));

    expect(await cli('events', 'drop', id)).toMatchObject({ id, state: 'dropped', object: 'preferences' });
    expect(await cli('events', 'list', '--failed')).toEqual([]);
    const again = await lumen(['events', 'drop', id, '--json'], { env: home.env });
    expect([again.exitCode, JSON.parse(again.stdout).error.code]).toEqual([1, 'event_not_pending']);
    expect(JSON.parse((await lumen(['events', 'drop', 'ev_999999', '--json'], { env: home.env })).stdout).error.code).toBe('event_not_found');

    // Replayed to another target: signed as the relay signs it, recorded delivered
    const other = await startForwardTarget();
    try {
      const replayed = await cli('events', 'replay', id, '--forward-to', other.url);
      expect(replayed).toMatchObject({ id, delivered: true, status: 200 });
      const [received] = other.accepted();
      expect(JSON.parse(received!.body)).toMatchObject({ object: 'preferences', contact: CUSTOMER, value: 'stop' });
      expect(received!.headers['lumen-event-id']).toBe(id);
      expect(String(received!.headers['lumen-signature'])).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(await cli('events', 'list')).toEqual([expect.objectContaining({ id, state: 'delivered' })]);
      // And queued again for the relay (which its target still refuses)
      expect(await cli('events', 'replay', id)).toEqual({ id, state: 'pending', delivered: false });
    } finally {
      await other.close();
    }
  });

  it('without messages in the list, inbound messages are stored but not handed on', async () => {
    target = await startForwardTarget();
    await start({ forwardTo: target.url, events: new Set(['preferences']) });
    await customerWrites();
    await play({ what: 'preferences', user: CUSTOMER, value: 'stop' });
    const docs = await eventually(() => {
      const all = target!.accepted().map((r) => JSON.parse(r.body));
      expect(all).toHaveLength(1);
      return all;
    });
    expect(docs[0]).toMatchObject({ object: 'preferences', contact: CUSTOMER, value: 'stop', category: 'marketing_messages' });
  });
});

describe('relay start --forward-raw', () => {
  it("re-posts Meta's exact bytes with Meta's signature, which verifies with the app secret, after storing", async () => {
    target = await startForwardTarget((i) => (i === 0 ? 503 : 200)); // the first attempt fails: retried
    await start({ forwardTo: target.url, forwardRaw: true });
    await customerWrites('raw please');
    const [received] = await eventually(() => {
      const all = target!.accepted();
      expect(all).toHaveLength(1);
      return all;
    });
    const sentByMeta = sandbox.webhooks().find((d) => d.body.includes('raw please'))!;
    expect(received!.raw.equals(Buffer.from(sentByMeta.body))).toBe(true);
    const header = String(received!.headers['x-hub-signature-256']);
    const expected = `sha256=${createHmac('sha256', sandbox.appSecret).update(received!.raw).digest('hex')}`;
    expect(timingSafeEqual(Buffer.from(header), Buffer.from(expected))).toBe(true);
    expect(target.requests.length).toBe(2);
    expect(target.requests[0]!.raw.equals(received!.raw)).toBe(true);
  });

  it('shows what an --exec command printed for a raw delivery or an event, with its id, whether it failed or not', async () => {
    await start({ exec: 'echo "got $LUMEN_EVENT_OBJECT $LUMEN_EVENT_ID"; echo "warn $LUMEN_EVENT_ID" >&2', forwardRaw: true });
    await customerWrites('raw for a command');
    const line = await eventually(() => {
      const found = events.find((e) => e.event === 'handler_output' && e.stream === 'stdout');
      expect(found).toBeDefined();
      return found as Extract<RelayEvent, { event: 'handler_output' }>;
    });
    expect(line).toMatchObject({ ref: expect.stringMatching(/^raw_\d+$/), text: `got raw ${line.ref}` });
    expect(events).toContainEqual({ event: 'handler_output', ref: line.ref, stream: 'stderr', text: `warn ${line.ref}` });
    await relay!.close();
    relay = undefined;
    events = [];
    await start({ exec: 'echo "no: $LUMEN_EVENT_OBJECT" >&2; exit 4', events: new Set(['preferences']) });
    await play({ what: 'preferences', user: CUSTOMER, value: 'stop' });
    await eventually(() => expect(events).toContainEqual(expect.objectContaining({ event: 'handler_output', ref: expect.stringMatching(/^ev_\d+$/), stream: 'stderr', text: 'no: preferences' })));
    expect(events).toContainEqual(expect.objectContaining({ event: 'forward', ok: false, error: 'exit code 4: no: preferences' }));
  });

  it('is refused without a target, and with --events or --auto-reply', async () => {
    await expect(start({ forwardRaw: true })).rejects.toThrow(/--forward-raw/);
    await expect(start({ forwardRaw: true, forwardTo: 'http://127.0.0.1:9/', events: new Set(['statuses']) })).rejects.toThrow(/--events/);
  });
});

describe('events tail', () => {
  it('feeds at most maxFollowers at once (the console and /v1/events together); a closed one frees its place', async () => {
    await start({ maxFollowers: 2 });
    const consoleUrl = new URL(relay!.console!.url);
    const streams: IncomingMessage[] = [];
    /** A follower on a connection of its own, as `events tail` or a console tab is. */
    const follow = (url: string, key: string) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        httpGet(url, { agent: false, headers: { authorization: `Bearer ${key}` } }, (response) => {
          streams.push(response);
          resolve(response);
        }).on('error', reject);
      });
    const tail = () => follow(`${relay!.localApi!.url}/v1/events`, relay!.localApi!.key);
    try {
      expect((await tail()).statusCode).toBe(200);
      const tab = await follow(`${consoleUrl.origin}/console/stream`, consoleUrl.searchParams.get('token')!);
      expect(tab.statusCode).toBe(200);
      const third = await tail();
      expect([third.statusCode, third.headers['retry-after']]).toEqual([503, '5']);
      const body = await new Promise<string>((resolve) => {
        let text = '';
        third.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
      });
      expect((JSON.parse(body) as { error: { code: string } }).error.code).toBe('too_many_followers');
      tab.destroy();
      await eventually(async () => expect((await tail()).statusCode).toBe(200));
    } finally {
      for (const stream of streams) stream.destroy();
    }
  });

  it("the relay's loopback /v1/events streams its events as NDJSON (with the local API key only)", async () => {
    await start();
    const denied = await fetch(`${relay!.localApi!.url}/v1/events`);
    expect(denied.status).toBe(401);
    const controller = new AbortController();
    const response = await fetch(`${relay!.localApi!.url}/v1/events`, {
      headers: { authorization: `Bearer ${relay!.localApi!.key}` },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const lines: any[] = [];
    let buffered = '';
    const readUntil = async (found: () => boolean) => {
      while (!found()) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffered += Buffer.from(value).toString('utf8');
        const parts = buffered.split('\n');
        buffered = parts.pop() ?? '';
        for (const part of parts) if (part.trim() !== '') lines.push(JSON.parse(part));
      }
    };
    await readUntil(() => lines.some((l) => l.event === 'following'));
    sandbox.sendInbound([{ from: CUSTOMER, type: 'text', text: 'tail me' }]);
    await readUntil(() => lines.some((l) => l.event === 'message' && l.text === 'tail me'));
    await play({ what: 'template', template: 'hello_world', language: 'en_US', event: 'PAUSED', reason: 'FIRST_PAUSE' });
    await readUntil(() => lines.some((l) => l.event === 'change'));
    expect(lines.find((l) => l.event === 'change')).toMatchObject({ object: 'template', text: 'template hello_world (en_US) is PAUSED: FIRST_PAUSE' });
    controller.abort();
  });

  it('without a running relay, says so in one line and exits non-zero', async () => {
    const result = await lumen(['events', 'tail'], { env: home.env });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/No relay is running/);
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
