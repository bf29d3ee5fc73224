/**
 * The store contract for inbound traffic, the same assertions on SQLite and on PostgreSQL: the inbox's group commit
 * (new messages, redeliveries within a batch, across batches and from a second store at the same moment; contacts
 * and the window; statuses and their rank; every change kind), and the queues worked with a lease (dispatch events,
 * media downloads, forwarded events and raw deliveries), with two stores claiming at once getting disjoint rows.
 * `another()` opens a second Store on the same database, as a second relay process or host would.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FieldChange } from '../../src/store/changes.js';
import type {
  IngestJob,
  Integration,
  NewChange,
  NewInteraction,
  NewStatus,
  OutboundMessage,
  Store,
  TemplateRecord,
} from '../../src/store/types.js';
import { integrationRecord, outboundRecord } from '../helpers/records.js';
import { storeBackends, type OpenedStore } from '../helpers/stores.js';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();

function message(wamid: string, overrides: Partial<NewInteraction> = {}): NewInteraction {
  return {
    integrationId: 'wa_1',
    channel: 'whatsapp',
    wamid,
    phoneNumberId: '106540352242922',
    from: '15551234567',
    fromKind: 'phone',
    contactName: null,
    userId: null,
    parentUserId: null,
    type: 'text',
    text: `text of ${wamid}`,
    mediaId: null,
    replyTo: null,
    timestamp: T0,
    raw: { id: wamid, text: { body: `text of ${wamid}` } },
    media: null,
    ...overrides,
  };
}

function job(overrides: Partial<IngestJob> = {}): IngestJob {
  return { workspaceId: 'ws_1', receivedAt: T0, messages: [], statuses: [], enqueueDispatch: false, ...overrides };
}

const texts = (...wamids: string[]) => job({ messages: wamids.map((w) => message(w)) });

function status(wamid: string, value: string, overrides: Partial<NewStatus> = {}): NewStatus {
  return {
    integrationId: 'wa_1',
    wamid,
    status: value,
    recipientId: '15551234567',
    timestamp: T0,
    errorCode: null,
    errorTitle: null,
    errorDetails: null,
    raw: { id: wamid, status: value },
    ...overrides,
  };
}

const change = (c: FieldChange, forward = false): NewChange => ({ integrationId: 'wa_1', change: c, doc: { object: c.kind, field: c.field }, forward });

/** An accepted outbound message with its wamid, as the statuses below find it. */
function outbound(id: string, wamid: string, overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  const body = { type: 'text', text: { body: 'hello' } };
  return outboundRecord(id, { wamid, body, state: 'accepted', attempts: 1, createdAt: T0, updatedAt: T0, ...overrides });
}

const integration = (workspaceId: string): Integration => integrationRecord(workspaceId);

function template(name: string): TemplateRecord {
  return {
    integrationId: 'wa_1',
    templateId: `tpl-${name}`,
    name,
    language: 'en_US',
    status: 'APPROVED',
    category: 'UTILITY',
    parameterFormat: 'POSITIONAL',
    requiredParameters: [],
    raw: { id: `tpl-${name}`, name, language: 'en_US', status: 'APPROVED', components: [{ type: 'BODY', text: 'Hi {{1}}' }] },
    syncedAt: T0,
  };
}

const editOf = (originalWamid: string, text: string, kind: 'edit' | 'revoke' = 'edit'): FieldChange => ({
  kind,
  field: 'messages',
  phoneNumberId: '106540352242922',
  wabaId: null,
  wamid: `${originalWamid}.${kind}`,
  originalWamid,
  text: kind === 'edit' ? text : null,
  timestamp: T0,
  raw: {},
});

describe.each(storeBackends())('inbound store contract: $title', (backend) => {
  let opened: OpenedStore;
  let store: Store;
  beforeEach(async (context) => {
    if (backend.skip) context.skip();
    opened = await backend.open();
    store = opened.store;
  });
  afterEach(async () => {
    await opened?.cleanup();
  });

  describe('inbox', () => {
    it('stores new messages and reads them back by id, wamid and filter, newest first', async () => {
      const [outcome] = await store.inbox.ingest([
        job({ messages: [message('w.1'), message('w.2', { from: '15550002', contactName: 'NULL' }), message('w.3', { raw: { deep: ['ü', '\u2603'] }, contactName: 'Ana, "the" {tester} \\ NULL', text: 'two\nlines, "quoted" {x} \\ é' })] }),
      ]);
      expect(outcome).toMatchObject({ duplicates: 0, statusesStored: 0, errorsStored: 0, changesStored: 0, eventsQueued: false, events: [] });
      expect(outcome!.stored.map((i) => i.wamid)).toEqual(['w.1', 'w.2', 'w.3']);
      const [first] = outcome!.stored;
      expect(first).toMatchObject({ workspaceId: 'ws_1', integrationId: 'wa_1', text: 'text of w.1', receivedAt: T0 });
      expect(first!.id).toMatch(/^in_\d+$/);

      expect(await store.inbox.findInteraction(first!.id)).toEqual(first);
      expect(await store.inbox.findByWamid('wa_1', 'w.3')).toMatchObject({
        raw: { deep: ['ü', '\u2603'] },
        contactName: 'Ana, "the" {tester} \\ NULL',
        text: 'two\nlines, "quoted" {x} \\ é',
      });
      expect((await store.inbox.listContacts('ws_1')).find((c) => c.contactId === '15550002')?.name).toBe('NULL');
      expect(await store.inbox.findInteraction('in_999999')).toBeUndefined();
      expect(await store.inbox.findInteraction('nonsense')).toBeUndefined();

      const all = await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 });
      expect(all.map((i) => i.wamid)).toEqual(['w.3', 'w.2', 'w.1']);
      expect((await store.inbox.listInteractions({ workspaceId: 'ws_1', from: '15550002', limit: 10 })).map((i) => i.wamid)).toEqual(['w.2']);
      expect(await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 1 })).toHaveLength(1);
      expect(await store.inbox.listInteractions({ workspaceId: 'ws_1', since: at(1), limit: 10 })).toEqual([]);
      expect(await store.inbox.listInteractions({ workspaceId: 'ws_2', limit: 10 })).toEqual([]);
    });

    it('stores a text or name holding U+0000 (PostgreSQL text cannot: it becomes U+FFFD there)', async () => {
      const [outcome] = await store.inbox.ingest([job({ messages: [message('w.nul', { contactName: 'A\u0000B', text: 'x\u0000y' })] })]);
      expect(outcome!.stored).toHaveLength(1);
      const stored = await store.inbox.findByWamid('wa_1', 'w.nul');
      const replaced = backend.name === 'postgres' ? '\uFFFD' : '\u0000';
      expect(stored).toMatchObject({ text: `x${replaced}y`, contactName: `A${replaced}B` });
    });

    it('stores a wamid once: within a job, within a batch, across batches; another number\'s is another message', async () => {
      const outcomes = await store.inbox.ingest([texts('w.A', 'w.A', 'w.B'), texts('w.B', 'w.C')]);
      expect(outcomes.map((o) => [o.stored.map((i) => i.wamid), o.duplicates])).toEqual([
        [['w.A', 'w.B'], 1],
        [['w.C'], 1],
      ]);
      const [again] = await store.inbox.ingest([texts('w.C', 'w.A', 'w.D')]);
      expect(again!.stored.map((i) => i.wamid)).toEqual(['w.D']);
      expect(again!.duplicates).toBe(2);
      // The same job handed twice in one batch (the relay never does; the outcome must still be exact).
      const same = texts('w.E');
      expect((await store.inbox.ingest([same, same])).map((o) => o.stored.length)).toEqual([1, 0]);
      const [other] = await store.inbox.ingest([job({ messages: [message('w.A', { integrationId: 'wa_2' })] })]);
      expect(other!.stored).toHaveLength(1);
      expect(await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 100 })).toHaveLength(6);
      expect((await store.inbox.listContacts('ws_1')).map((c) => [c.integrationId, c.messages]).sort()).toEqual([
        ['wa_1', 5],
        ['wa_2', 1],
      ]);
    });

    it('stores a delivery once when two stores ingest it at the same moment (and batches in opposite orders)', async () => {
      const second = await opened.another();
      for (let round = 0; round < 5; round += 1) {
        const wamids = Array.from({ length: 20 }, (_, i) => `w.race.${round}.${i}`);
        // Given the same messages in one order on one store and in the reverse order on the other
        const forward = wamids.map((w) => texts(w));
        const backward = [...wamids].reverse().map((w) => texts(w));
        // When both ingest at once
        const [a, b] = await Promise.all([store.inbox.ingest(forward), second.inbox.ingest(backward)]);
        // Then each wamid is stored by exactly one of them, and is a duplicate for the other
        const stored = [...a, ...b].flatMap((o) => o.stored.map((i) => i.wamid)).sort();
        expect(stored).toEqual([...wamids].sort());
        expect([...a, ...b].reduce((n, o) => n + o.duplicates, 0)).toBe(wamids.length);
      }
      expect(await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 1000 })).toHaveLength(100);
      const [contact] = await second.inbox.listContacts('ws_1');
      expect(contact!.messages).toBe(100);
    });

    it('keeps one contact per sender: counted per stored message, latest name, first and last times; the window by phone or user id', async () => {
      await store.inbox.ingest([
        job({
          messages: [
            message('w.1', { timestamp: at(10), contactName: 'Ana' }),
            message('w.2', { timestamp: at(5), contactName: null }),
            message('w.3', { from: 'US.13491208655302741918', fromKind: 'user_id', userId: 'US.13491208655302741918', timestamp: at(7) }),
          ],
        }),
      ]);
      await store.inbox.ingest([
        job({ messages: [message('w.1', { timestamp: at(99), contactName: 'Ignored' }), message('w.4', { timestamp: at(20), contactName: 'Ana B', userId: 'US.1', parentUserId: 'US.P' })] }),
      ]);
      const contacts = await store.inbox.listContacts('ws_1');
      expect(contacts).toEqual([
        {
          integrationId: 'wa_1',
          contactId: '15551234567',
          kind: 'phone',
          name: 'Ana B',
          userId: 'US.1',
          parentUserId: 'US.P',
          firstSeenAt: at(5),
          lastInboundAt: at(20),
          messages: 3,
        },
        {
          integrationId: 'wa_1',
          contactId: 'US.13491208655302741918',
          kind: 'user_id',
          name: null,
          userId: 'US.13491208655302741918',
          parentUserId: null,
          firstSeenAt: at(7),
          lastInboundAt: at(7),
          messages: 1,
        },
      ]);
      expect(await store.inbox.lastInboundAt('wa_1', '15551234567')).toBe(at(20));
      expect(await store.inbox.lastInboundAt('wa_1', 'US.1')).toBe(at(20));
      expect(await store.inbox.lastInboundAt('wa_1', 'US.13491208655302741918')).toBe(at(7));
      expect(await store.inbox.lastInboundAt('wa_2', '15551234567')).toBeUndefined();
      expect(await store.inbox.listContacts('ws_2')).toEqual([]);
    });

    it("keeps Meta's webhook-level errors, newest first", async () => {
      const error = (code: number) => ({
        integrationId: 'wa_1',
        phoneNumberId: '106540352242922',
        code,
        title: 'Unsupported message type',
        message: null,
        details: 'Message type is not currently supported',
        raw: { code },
      });
      const outcomes = await store.inbox.ingest([job({ errors: [error(131051)] }), job({ errors: [error(131052), error(131053)], receivedAt: at(1) })]);
      expect(outcomes.map((o) => o.errorsStored)).toEqual([1, 2]);
      const listed = await store.inbox.listWebhookErrors('ws_1', 2);
      expect(listed).toMatchObject([
        { code: 131053, receivedAt: at(1), integrationId: 'wa_1', phoneNumberId: '106540352242922', message: null },
        { code: 131052, title: 'Unsupported message type', details: 'Message type is not currently supported' },
      ]);
      expect(listed[0]!.id).toBeGreaterThan(listed[1]!.id);
      expect(await store.inbox.listWebhookErrors('ws_2', 10)).toEqual([]);
    });

    it('purges an integration: its messages, contacts, events, statuses, media and errors, nothing of another', async () => {
      await store.inbox.ingest([
        job({
          enqueueDispatch: true,
          messages: [message('w.1', { media: { id: 'm.1', mimeType: 'image/png', sha256: null, caption: null, filename: null } }), message('w.2', { integrationId: 'wa_2' })],
          statuses: [status('w.out', 'sent')],
          errors: [{ integrationId: 'wa_1', phoneNumberId: null, code: 1, title: null, message: null, details: null, raw: {} }],
        }),
      ]);
      expect(await store.inbox.purgeIntegration('wa_1')).toBe(1);
      expect((await store.inbox.listInteractions({ workspaceId: 'ws_1', limit: 10 })).map((i) => i.integrationId)).toEqual(['wa_2']);
      expect((await store.inbox.listContacts('ws_1')).map((c) => c.integrationId)).toEqual(['wa_2']);
      expect((await store.dispatch.list({ workspaceId: 'ws_1', failedOnly: false, limit: 10 })).map((e) => e.interactionId)).toHaveLength(1);
      expect(await store.media.find('wa_1', 'm.1')).toBeUndefined();
      expect(await store.inbox.listWebhookErrors('ws_1', 10)).toEqual([]);
      // The status is gone too: the same status is new again.
      expect((await store.inbox.ingest([job({ statuses: [status('w.out', 'sent')] })]))[0]!.statusesStored).toBe(1);
    });
  });

  describe('statuses', () => {
    it("moves only a message its own number sent: another number's status for the wamid changes nothing, and blocks nothing", async () => {
      await store.outbound.insertOrFind(outbound('msg_1', 'w.out.1'));
      // Signed with another app's secret, delivered for another number, first (and once more with pricing, alone)
      const forged = { integrationId: 'wa_other', errorCode: 131026, errorTitle: 'Spoofed', pricing: { model: 'PMP', category: 'marketing', type: 'regular', billable: true } };
      const [spoof] = await store.inbox.ingest([job({ statuses: [status('w.out.1', 'failed', forged), status('w.out.1', 'read', forged)] })]);
      expect(spoof!.statusesStored).toBe(2);
      expect(await store.outbound.findByWamid('w.out.1')).toMatchObject({ state: 'accepted', errorCode: null, pricing: null });
      expect(await store.outbound.timeline('wa_1', 'w.out.1')).toEqual([]);
      // The number's own statuses still count, the same values included
      const [own] = await store.inbox.ingest([job({ receivedAt: at(1), statuses: [status('w.out.1', 'read')] })]);
      expect(own!.statusesStored).toBe(1);
      expect(await store.outbound.findByWamid('w.out.1')).toMatchObject({ state: 'read', errorCode: null });
      // Nor does a status that came before Meta's answer count for another number's message
      await store.outbound.insertOrFind(outbound('msg_2', null as unknown as string, { state: 'sending' }));
      await store.inbox.ingest([job({ receivedAt: at(2), statuses: [status('w.out.2', 'failed', forged)] })]);
      await store.outbound.markAccepted('msg_2', 'w.out.2', at(3));
      expect(await store.outbound.findById('msg_2')).toMatchObject({ state: 'accepted', errorCode: null, pricing: null });
    });

    it('keeps each (wamid, status) once and moves a sent message forward only, whatever the order of arrival', async () => {
      await store.outbound.insertOrFind(outbound('msg_1', 'w.out.1'));
      await store.outbound.insertOrFind(outbound('msg_2', 'w.out.2'));
      const outcomes = await store.inbox.ingest([
        job({ statuses: [status('w.out.1', 'delivered'), status('w.out.1', 'delivered'), status('w.out.2', 'sent')] }),
        job({ receivedAt: at(1), statuses: [status('w.out.1', 'sent'), status('w.out.2', 'sent')] }),
      ]);
      expect(outcomes.map((o) => o.statusesStored)).toEqual([2, 1]);
      expect(await store.outbound.findByWamid('w.out.1')).toMatchObject({ state: 'delivered', updatedAt: T0 });
      expect(await store.outbound.findByWamid('w.out.2')).toMatchObject({ state: 'sent' });

      const [later] = await store.inbox.ingest([
        job({ receivedAt: at(2), statuses: [status('w.out.1', 'read'), status('w.out.1', 'delivered'), status('w.out.2', 'deleted')] }),
      ]);
      expect(later!.statusesStored).toBe(2); // delivered was stored before; `deleted` is kept but ranks nothing
      expect(await store.outbound.findByWamid('w.out.1')).toMatchObject({ state: 'read', updatedAt: at(2) });
      expect(await store.outbound.findByWamid('w.out.2')).toMatchObject({ state: 'sent' });
      expect((await store.outbound.timeline('wa_1', 'w.out.1')).map((s) => s.status).sort()).toEqual(['delivered', 'read', 'sent']);

      // failed is final, and carries Meta's error; a read after it does not move it
      await store.outbound.insertOrFind(outbound('msg_3', 'w.out.3'));
      await store.inbox.ingest([
        job({
          receivedAt: at(3),
          statuses: [
            status('w.out.3', 'sent'),
            status('w.out.3', 'failed', { errorCode: 131047, errorTitle: 'Re-engagement message', errorDetails: 'More than 24 hours' }),
            status('w.out.3', 'read'),
          ],
        }),
      ]);
      expect(await store.outbound.findByWamid('w.out.3')).toMatchObject({
        state: 'failed',
        errorCode: 131047,
        errorTitle: 'Re-engagement message',
        errorDetails: 'More than 24 hours',
        updatedAt: at(3),
      });
    });

    it("records Meta's pricing on the message (the latest status that says something wins, per field)", async () => {
      await store.outbound.insertOrFind(outbound('msg_1', 'w.out.1'));
      await store.inbox.ingest([
        job({
          statuses: [
            status('w.out.1', 'sent', { pricing: { model: 'PMP', category: 'marketing', type: 'regular', billable: true } }),
            status('w.out.1', 'delivered', { pricing: { model: null, category: 'marketing_lite', type: null, billable: false } }),
          ],
        }),
      ]);
      expect(await store.outbound.findByWamid('w.out.1')).toMatchObject({
        state: 'delivered',
        pricing: { model: 'PMP', category: 'marketing_lite', type: 'regular', billable: false },
      });

      // A status that arrives late moves nothing back, but its pricing is still recorded.
      await store.outbound.insertOrFind(outbound('msg_2', 'w.out.2'));
      await store.inbox.ingest([job({ statuses: [status('w.out.2', 'read')] })]);
      await store.inbox.ingest([
        job({
          receivedAt: at(1),
          statuses: [status('w.out.2', 'sent', { errorCode: 1, pricing: { model: 'PMP', category: 'utility', type: 'regular', billable: true } })],
        }),
      ]);
      expect(await store.outbound.findByWamid('w.out.2')).toMatchObject({
        state: 'read',
        updatedAt: T0,
        errorCode: null,
        pricing: { model: 'PMP', category: 'utility', type: 'regular', billable: true },
      });
    });

    it('queues the documents of new statuses only, when asked, for the user\'s code', async () => {
      const doc = (n: number) => ({ object: 'status', n });
      const outcomes = await store.inbox.ingest([
        job({ statuses: [status('w.1', 'sent', { forwardDoc: doc(1) }), status('w.1', 'sent', { forwardDoc: doc(2) })] }),
        job({ statuses: [status('w.1', 'delivered')] }),
      ]);
      expect(outcomes.map((o) => o.eventsQueued)).toEqual([true, false]);
      const [again] = await store.inbox.ingest([job({ statuses: [status('w.1', 'sent', { forwardDoc: doc(3) })] })]);
      expect(again!.eventsQueued).toBe(false);
      const claimed = await store.forwards.events.claimDue(at(1), at(2), 10);
      expect(claimed.map((q) => [q.object, JSON.parse(q.body.toString())])).toEqual([['status', doc(1)]]);
    });
  });

  describe('changes', () => {
    it('applies an edit and a revoke of an inbound message once; an edit before its message in a batch finds nothing', async () => {
      await store.inbox.ingest([texts('w.1')]);
      const outcomes = await store.inbox.ingest([
        job({ receivedAt: at(1), changes: [change(editOf('w.1', 'new text'))] }),
        job({ receivedAt: at(2), changes: [change(editOf('w.1', 'new text'))] }),
        job({ receivedAt: at(3), changes: [change(editOf('w.1', '', 'revoke'))] }),
      ]);
      expect(outcomes.map((o) => o.changesStored)).toEqual([1, 0, 1]);
      expect(await store.inbox.findByWamid('wa_1', 'w.1')).toMatchObject({
        text: 'new text',
        previousTexts: [{ text: 'text of w.1', at: at(1) }],
        deletedAt: at(3),
      });
      await store.inbox.ingest([job({ receivedAt: at(4), changes: [change(editOf('w.1', 'third'))] })]);
      expect((await store.inbox.findByWamid('wa_1', 'w.1'))!.previousTexts).toEqual([
        { text: 'text of w.1', at: at(1) },
        { text: 'new text', at: at(4) },
      ]);

      // One job after another: an edit handed before its message (in the same batch) finds nothing to edit
      const [early, arrival, late] = await store.inbox.ingest([
        job({ changes: [change(editOf('w.2', 'too early'))] }),
        texts('w.2'),
        job({ changes: [change(editOf('w.2', 'in time'))] }),
      ]);
      expect([early!.changesStored, arrival!.stored.length, late!.changesStored]).toEqual([0, 1, 1]);
      expect(await store.inbox.findByWamid('wa_1', 'w.2')).toMatchObject({ text: 'in time', previousTexts: [{ text: 'text of w.2', at: T0 }] });
    });

    it('logs every change and queues those asked for', async () => {
      const outcomes = await store.inbox.ingest([
        job({ changes: [change(editOf('w.none', 'x'), true)] }),
        job({ changes: [change(editOf('w.none', 'x'), false)] }),
      ]);
      expect(outcomes.map((o) => [o.changesStored, o.eventsQueued])).toEqual([
        [0, true],
        [0, false],
      ]);
      const queued = await store.forwards.events.claimDue(T0, at(1), 10);
      expect(queued.map((q) => [q.object, JSON.parse(q.body.toString())])).toEqual([['edit', { object: 'edit', field: 'messages' }]]);
    });

    it('records an echo from the WhatsApp Business app once, and its statuses move it', async () => {
      const echo: FieldChange = {
        kind: 'echo',
        field: 'smb_message_echoes',
        phoneNumberId: '106540352242922',
        wabaId: null,
        wamid: 'w.echo',
        to: '15551234567',
        type: 'text',
        text: 'sent from the app',
        timestamp: T0,
        raw: { type: 'text', text: { body: 'sent from the app' } },
      };
      const outcomes = await store.inbox.ingest([
        job({ changes: [change(echo)] }),
        job({ changes: [change(echo)], statuses: [status('w.echo', 'delivered')] }),
      ]);
      expect(outcomes.map((o) => [o.changesStored, o.statusesStored])).toEqual([
        [1, 0],
        [0, 1],
      ]);
      expect(await store.outbound.findByWamid('w.echo')).toMatchObject({
        source: 'business_app',
        state: 'delivered',
        recipientKind: 'phone',
        body: { type: 'text', text: { body: 'sent from the app' } },
      });
      // An edit and a revoke of it, from the app
      const [edited] = await store.inbox.ingest([job({ receivedAt: at(1), changes: [change(editOf('w.echo', 'edited')), change(editOf('w.echo', '', 'revoke'))] })]);
      expect(edited!.changesStored).toBe(2);
      expect(await store.outbound.findByWamid('w.echo')).toMatchObject({
        body: { text: { body: 'edited' } },
        previousTexts: [{ text: 'sent from the app', at: at(1) }],
        deletedAt: at(1),
      });
    });

    it('updates a synced template from its webhook (status, reason, category, quality, components)', async () => {
      const ws = await store.workspaces.ensure('default', T0);
      await store.integrations.saveWithTemplates(integration(ws.id), [template('welcome'), template('other')]);
      const templateChange = (overrides: Partial<Extract<FieldChange, { kind: 'template' }>>): FieldChange => ({
        kind: 'template',
        field: 'message_template_status_update',
        wabaId: null,
        templateId: 'tpl-welcome',
        name: null,
        language: null,
        status: null,
        reason: null,
        category: null,
        previousCategory: null,
        quality: null,
        components: null,
        eventAt: null,
        raw: {},
        ...overrides,
      });
      const outcomes = await store.inbox.ingest([
        job({ workspaceId: ws.id, changes: [change(templateChange({ status: 'PAUSED', reason: 'Low quality' }))] }),
        job({ workspaceId: ws.id, changes: [change(templateChange({ templateId: null, name: 'welcome', language: 'en_US', quality: 'RED', category: 'MARKETING' }))] }),
        job({ workspaceId: ws.id, changes: [change(templateChange({ field: 'message_template_components_update', components: { element: 'Hello {{1}}!', footer: 'Bye' } }))] }),
        job({ workspaceId: ws.id, changes: [change(templateChange({ templateId: 'tpl-unknown' }))] }),
      ]);
      expect(outcomes.map((o) => o.changesStored)).toEqual([1, 1, 1, 0]);
      const [welcome] = await store.templates.findByName('wa_1', 'welcome');
      expect(welcome).toMatchObject({ status: 'PAUSED', category: 'MARKETING' });
      expect(welcome!.raw).toMatchObject({
        status: 'PAUSED',
        category: 'MARKETING',
        quality_score: { score: 'RED' },
        components: [{ type: 'BODY', text: 'Hello {{1}}!' }, { type: 'FOOTER', text: 'Bye' }],
      });
      expect((await store.templates.findByName('wa_1', 'other'))[0]).toMatchObject({ status: 'APPROVED' });

      // A change older (by Meta's time) than the last of its field is stale: an old PAUSED posted again after an
      // APPROVED changes nothing; a change of another field, or one without a time, still applies
      const [approved, old, quality] = await store.inbox.ingest([
        job({ workspaceId: ws.id, changes: [change(templateChange({ status: 'APPROVED', eventAt: at(10) }))] }),
        job({ workspaceId: ws.id, changes: [change(templateChange({ status: 'PAUSED', reason: 'Replayed', eventAt: at(5) }))] }),
        job({ workspaceId: ws.id, changes: [change(templateChange({ field: 'message_template_quality_update', quality: 'GREEN', eventAt: at(5) }))] }),
      ]);
      expect([approved!.changesStored, old!.changesStored, quality!.changesStored]).toEqual([1, 0, 1]);
      expect((await store.templates.findByName('wa_1', 'welcome'))[0]).toMatchObject({ status: 'APPROVED', statusReason: null, qualityScore: 'GREEN' });
      const [same] = await store.inbox.ingest([job({ workspaceId: ws.id, changes: [change(templateChange({ status: 'PAUSED', eventAt: at(10) }))] })]);
      expect(same!.changesStored).toBe(1); // the same second: taken in the order it came
    });

    it('keeps account facts and contact preferences (the latest by Meta\'s time)', async () => {
      const account = (overrides: Partial<Extract<FieldChange, { kind: 'account' }>>): FieldChange => ({
        kind: 'account',
        field: 'account_update',
        wabaId: null,
        phoneNumber: null,
        event: null,
        qualityRating: null,
        messagingLimit: null,
        restriction: null,
        coexistence: null,
        capability: null,
        eventAt: null,
        raw: {},
        ...overrides,
      });
      const preference = (value: string, timestamp: string): FieldChange => ({
        kind: 'preference',
        field: 'user_preferences',
        phoneNumberId: '106540352242922',
        wabaId: null,
        contact: '15551234567',
        category: 'marketing_messages',
        value,
        detail: null,
        timestamp,
        raw: {},
      });
      const outcomes = await store.inbox.ingest([
        job({ changes: [change(account({ field: 'phone_number_quality_update', qualityRating: 'YELLOW', messagingLimit: 'TIER_1K' }))] }),
        job({ receivedAt: at(1), changes: [change(account({ event: 'ACCOUNT_RESTRICTION', restriction: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', coexistence: true }))] }),
        job({ changes: [change(preference('stop', at(5)))] }),
        job({ changes: [change(preference('resume', at(1)))] }),
      ]);
      expect(outcomes.map((o) => o.changesStored)).toEqual([1, 1, 1, 0]);
      expect(await store.facts.accountFacts('wa_1')).toEqual({
        integrationId: 'wa_1',
        qualityRating: 'YELLOW',
        messagingLimit: 'TIER_1K',
        restriction: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION',
        accountEvent: 'ACCOUNT_RESTRICTION',
        coexistence: true,
        updatedAt: at(1),
      });
      expect(await store.facts.preference('wa_1', '15551234567', 'marketing_messages')).toMatchObject({ value: 'stop' });

      // An account_update older than the last one applied does not bring its restriction back
      const [lifted, replayed] = await store.inbox.ingest([
        job({ receivedAt: at(2), changes: [change(account({ event: 'ACCOUNT_UPDATE', restriction: null, eventAt: at(20) }))] }),
        job({ receivedAt: at(3), changes: [change(account({ event: 'ACCOUNT_RESTRICTION', restriction: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', eventAt: at(15) }))] }),
      ]);
      expect([lifted!.changesStored, replayed!.changesStored]).toEqual([1, 0]);
      expect(await store.facts.accountFacts('wa_1')).toMatchObject({ restriction: null, updatedAt: at(2) });
    });
  });

  describe('dispatch', () => {
    it('claims due events with a lease, oldest first; delivered, failed, dropped and requeued as the relay records them', async () => {
      const [first, second] = await store.inbox.ingest([
        job({ enqueueDispatch: true, messages: [message('w.1'), message('w.2')] }),
        job({ enqueueDispatch: true, receivedAt: at(1), messages: [message('w.3')] }),
      ]);
      const [e1, e2] = first!.events;
      const [e3] = second!.events;
      expect(first!.stored.map((i) => i.id)).toEqual([`in_${e1}`, `in_${e2}`]);
      expect(await store.dispatch.find(e1!)).toMatchObject({ state: 'pending', attempts: 0, nextAttemptAt: T0, claimedUntil: null, interactionId: `in_${e1}` });

      // Not due yet for the one received later
      expect((await store.dispatch.claimDue(T0, at(5), 10)).map((e) => e.id)).toEqual([e1, e2]);
      // Claimed: nobody else gets them while the lease holds, the newly due one is free
      expect((await store.dispatch.claimDue(at(1), at(6), 10)).map((e) => e.id)).toEqual([e3]);
      expect(await store.dispatch.claimDue(at(2), at(7), 10)).toEqual([]);

      await store.dispatch.markDelivered(e1!, { target: 'http://127.0.0.1:1/hook', status: 200, durationMs: 12, at: at(2) });
      await store.dispatch.markFailed(e2!, { target: 'http://127.0.0.1:1/hook', status: 500, error: 'HTTP 500', durationMs: 7, nextAttemptAt: at(10) });
      expect(await store.dispatch.find(e1!)).toMatchObject({ state: 'delivered', attempts: 1, lastStatus: 200, lastDurationMs: 12, deliveredAt: at(2), claimedUntil: null });
      expect(await store.dispatch.find(e2!)).toMatchObject({ state: 'retrying', attempts: 1, lastError: 'HTTP 500', nextAttemptAt: at(10), claimedUntil: null });
      expect((await store.dispatch.list({ workspaceId: 'ws_1', failedOnly: true, limit: 10 })).map((e) => e.id)).toEqual([e2]);
      expect((await store.dispatch.list({ workspaceId: 'ws_1', failedOnly: false, limit: 10 })).map((e) => e.id)).toEqual([e3, e2, e1]);

      // One event claimed outside the dispatcher (a replay): not while a relay's lease holds it, then by one caller
      // only, which keeps the dispatcher off it until released
      expect(await store.dispatch.claimOne(e3!, at(5), at(20))).toBe(false);
      expect(await store.dispatch.claimOne(e1!, at(5), at(20))).toBe(true);
      expect(await store.dispatch.claimOne(e1!, at(5), at(20))).toBe(false);
      // Renewed although delivered: another claim still cannot take it once the first lease would have ended
      await store.dispatch.renewClaim(e1!, at(40));
      expect(await store.dispatch.claimOne(e1!, at(30), at(50))).toBe(false);
      // A relay starting up drops the claims a killed relay left (e3's), not a replay's
      expect(await store.dispatch.releaseClaims()).toBe(1);
      expect(await store.dispatch.claimOne(e1!, at(30), at(50))).toBe(false);
      expect((await store.dispatch.find(e3!))?.claimedUntil).toBeNull();
      await store.dispatch.releaseClaim(e1!);
      // Not renewed once released
      await store.dispatch.renewClaim(e1!, at(60));
      expect(await store.dispatch.find(e1!)).toMatchObject({ state: 'delivered', claimedUntil: null });

      // The lease of e3 ended (its relay died): it is taken over; e2 waits for its retry time
      expect((await store.dispatch.claimDue(at(6), at(11), 10)).map((e) => e.id)).toEqual([e3]);
      expect((await store.dispatch.claimDue(at(10), at(15), 10)).map((e) => e.id)).toEqual([e2]);
      await store.dispatch.markDelivered(e3!, { target: 'http://127.0.0.1:1/hook', status: 204, durationMs: 3, at: at(10) });

      // Dropped: never claimed again, a late failure does not revive it; delivered cannot be dropped
      expect(await store.dispatch.drop(e2!, at(12))).toBe(true);
      expect(await store.dispatch.drop(e2!, at(12))).toBe(false);
      expect(await store.dispatch.drop(e1!, at(12))).toBe(false);
      await store.dispatch.markFailed(e2!, { target: 'x', status: null, error: 'late', durationMs: 1, nextAttemptAt: at(13) });
      expect(await store.dispatch.find(e2!)).toMatchObject({ state: 'dropped', lastError: 'HTTP 500' });
      // Delivered stays delivered: a failure recorded after it (another attempt that was in flight) changes nothing
      await store.dispatch.markFailed(e3!, { target: 'x', status: 500, error: 'late', durationMs: 1, nextAttemptAt: at(13) });
      expect(await store.dispatch.find(e3!)).toMatchObject({ state: 'delivered', lastStatus: 204, attempts: 1 });
      expect(await store.dispatch.claimDue(at(100), at(101), 10)).toEqual([]);

      // Requeued (replay): due at once; an interaction that never had an event gets one
      expect(await store.dispatch.requeue(`in_${e1}`, 'ws_1', at(20))).toMatchObject({ id: e1, state: 'pending', nextAttemptAt: at(20), deliveredAt: null, attempts: 1 });
      const [plain] = await store.inbox.ingest([texts('w.4')]);
      const created = await store.dispatch.requeue(plain!.stored[0]!.id, 'ws_1', at(20));
      expect(created).toMatchObject({ state: 'pending', attempts: 0, createdAt: at(20), interactionId: plain!.stored[0]!.id });
      expect((await store.dispatch.claimDue(at(20), at(25), 10)).map((e) => e.id).sort((a, b) => a - b)).toEqual([e1!, created!.id].sort((a, b) => a - b));
      // The one dispatcher at start drops every claim
      expect(await store.dispatch.releaseClaims()).toBe(2);
      expect(await store.dispatch.claimDue(at(21), at(25), 10)).toHaveLength(2);
    });

    it('keeps the replies with a delivery and its claim until they are sent; a dead holder\'s are taken over once', async () => {
      const [outcome] = await store.inbox.ingest([job({ enqueueDispatch: true, messages: [message('w.1'), message('w.2')] })]);
      const [e1, e2] = outcome!.events;
      await store.dispatch.claimDue(T0, at(5), 10);
      const replies = JSON.stringify([{ key: `reply:in_${e1}:0`, source: 'reply', reply: { text: 'hi' } }]);
      // Delivered with replies to send: the claim stays (renewed by whoever sends them); without, it ends
      await store.dispatch.markDelivered(e1!, { target: 'x', status: 200, durationMs: 1, at: at(1), replies: { json: replies, leaseUntil: at(10) } });
      await store.dispatch.markDelivered(e2!, { target: 'x', status: 200, durationMs: 1, at: at(1) });
      expect(await store.dispatch.find(e1!)).toMatchObject({ state: 'delivered', claimedUntil: at(10) });
      expect(await store.dispatch.find(e2!)).toMatchObject({ state: 'delivered', claimedUntil: null });
      expect(await store.dispatch.claimReplies(at(2), at(12), 10)).toEqual([]);
      // A replay waits for them too
      expect(await store.dispatch.claimOne(e1!, at(2), at(12))).toBe(false);
      await store.dispatch.renewClaims([e1!, e2!], at(20));
      expect(await store.dispatch.find(e1!)).toMatchObject({ claimedUntil: at(20) });
      expect(await store.dispatch.find(e2!)).toMatchObject({ claimedUntil: null });
      expect(await store.dispatch.claimReplies(at(15), at(25), 10)).toEqual([]);

      // Its sender died: once the claim ran out, one caller takes them over
      const taken = await store.dispatch.claimReplies(at(21), at(30), 10);
      expect(taken).toEqual([{ id: e1, interactionId: `in_${e1}`, replies }]);
      expect(await store.dispatch.claimReplies(at(22), at(32), 10)).toEqual([]);
      // A relay starting up (the one dispatcher) frees them at once
      expect(await store.dispatch.releaseClaims()).toBe(1);
      expect(await store.dispatch.claimReplies(at(23), at(33), 10)).toHaveLength(1);

      // Sent: forgotten, the claim ended; a stale "sent" for other replies changes nothing
      await store.dispatch.repliesSent(e1!, '[]');
      expect(await store.dispatch.find(e1!)).toMatchObject({ claimedUntil: at(33) });
      await store.dispatch.repliesSent(e1!, replies);
      expect(await store.dispatch.find(e1!)).toMatchObject({ state: 'delivered', claimedUntil: null });
      expect(await store.dispatch.claimReplies(at(100), at(110), 10)).toEqual([]);
      await store.dispatch.renewClaims([e1!], at(120));
      expect(await store.dispatch.find(e1!)).toMatchObject({ claimedUntil: null });
    });

    it('gives two stores taking over left replies at the same moment each event once', async () => {
      const second = await opened.another();
      const wamids = Array.from({ length: 40 }, (_, i) => `w.${i}`);
      const [outcome] = await store.inbox.ingest([job({ enqueueDispatch: true, messages: wamids.map((w) => message(w)) })]);
      await store.dispatch.claimDue(T0, at(1), 100);
      for (const id of outcome!.events) {
        await store.dispatch.markDelivered(id, { target: 'x', status: 200, durationMs: 1, at: at(1), replies: { json: `["${id}"]`, leaseUntil: at(2) } });
      }
      const claims: number[][] = [[], []];
      await Promise.all(
        [store, second].map(async (s, i) => {
          for (;;) {
            const got = await s.dispatch.claimReplies(at(3), at(10), 3);
            if (got.length === 0) return;
            claims[i]!.push(...got.map((e) => e.id));
          }
        }),
      );
      const all = [...claims[0]!, ...claims[1]!].sort((a, b) => a - b);
      expect(all).toEqual([...outcome!.events].sort((a, b) => a - b));
    });

    it('postpones an event for its media file, and makes it due once the file settled (before any attempt only)', async () => {
      const [outcome] = await store.inbox.ingest([job({ enqueueDispatch: true, messages: [message('w.1')] })]);
      const [id] = outcome!.events;
      await store.dispatch.claimDue(T0, at(1), 10);
      await store.dispatch.postpone(id!, at(30));
      expect(await store.dispatch.find(id!)).toMatchObject({ nextAttemptAt: at(30), claimedUntil: null });
      expect(await store.dispatch.claimDue(at(1), at(2), 10)).toEqual([]);
      await store.dispatch.makeDue(`in_${id}`, at(2));
      expect(await store.dispatch.find(id!)).toMatchObject({ nextAttemptAt: at(2) });
      await store.dispatch.makeDue('nonsense', at(2));
      await store.dispatch.markFailed(id!, { target: 'x', status: 503, error: 'HTTP 503', durationMs: 1, nextAttemptAt: at(40) });
      await store.dispatch.makeDue(`in_${id}`, at(3));
      expect(await store.dispatch.find(id!)).toMatchObject({ nextAttemptAt: at(40) });
    });

    it('gives two stores claiming at the same moment disjoint events, all of them between them', async () => {
      const second = await opened.another();
      const wamids = Array.from({ length: 60 }, (_, i) => `w.${i}`);
      const [outcome] = await store.inbox.ingest([job({ enqueueDispatch: true, messages: wamids.map((w) => message(w)) })]);
      const claims: number[][] = [[], []];
      // Both claim in small bites until nothing is left
      await Promise.all(
        [store, second].map(async (s, i) => {
          for (;;) {
            const got = await s.dispatch.claimDue(at(1), at(10), 7);
            if (got.length === 0) return;
            claims[i]!.push(...got.map((e) => e.id));
          }
        }),
      );
      const all = [...claims[0]!, ...claims[1]!].sort((a, b) => a - b);
      expect(all).toEqual([...outcome!.events].sort((a, b) => a - b));
      expect(new Set(all).size).toBe(all.length);
    });
  });

  describe('media', () => {
    const withMedia = (wamid: string, mediaId: string) =>
      message(wamid, { type: 'image', mediaId, media: { id: mediaId, mimeType: 'image/jpeg', sha256: null, caption: 'look', filename: null } });

    it('records the media of a stored message as pending, claims it with a lease, and keeps what came of it', async () => {
      const [outcome] = await store.inbox.ingest([job({ messages: [withMedia('w.1', 'm.1'), withMedia('w.2', 'm.2')] })]);
      const [i1, i2] = outcome!.stored;
      expect(await store.media.forInteraction(i1!.id)).toMatchObject({
        integrationId: 'wa_1',
        mediaId: 'm.1',
        workspaceId: 'ws_1',
        interactionId: i1!.id,
        direction: 'in',
        state: 'pending',
        mimeType: 'image/jpeg',
        caption: 'look',
        attempts: 0,
        nextAttemptAt: T0,
      });
      // A redelivery adds nothing
      await store.inbox.ingest([job({ messages: [withMedia('w.1', 'm.1')] })]);

      const claimed = await store.media.claimDue(T0, at(1), 10);
      expect(claimed.map((m) => m.mediaId).sort()).toEqual(['m.1', 'm.2']);
      expect(claimed.every((m) => m.attempts === 1 && m.updatedAt === T0)).toBe(true);
      expect(await store.media.claimDue(T0, at(1), 10)).toEqual([]);

      await store.media.markStored('wa_1', 'm.1', { path: '/media/m.1.jpg', size: 1234, sha256: 'ab'.repeat(32), mimeType: null }, at(1));
      expect(await store.media.find('wa_1', 'm.1')).toMatchObject({ state: 'stored', path: '/media/m.1.jpg', size: 1234, mimeType: 'image/jpeg', nextAttemptAt: null });
      // A file is in use by its path, or (named by its hash) by its hash from a record stored elsewhere
      expect(await store.media.fileInUse('/media/m.1.jpg', null)).toBe(true);
      expect(await store.media.fileInUse('/elsewhere/x.jpg', 'ab'.repeat(32))).toBe(true);
      expect(await store.media.fileInUse('/media/m.2.jpg', 'cd'.repeat(32))).toBe(false);
      await store.media.markAttemptFailed('wa_1', 'm.2', 'HTTP 500', at(5), at(1));
      expect(await store.media.find('wa_1', 'm.2')).toMatchObject({ state: 'pending', lastError: 'HTTP 500', nextAttemptAt: at(5) });
      expect(await store.media.claimDue(at(2), at(3), 10)).toEqual([]);
      expect((await store.media.claimDue(at(5), at(6), 10)).map((m) => [m.mediaId, m.attempts])).toEqual([['m.2', 2]]);
      await store.media.markAttemptFailed('wa_1', 'm.2', 'gone', null, at(5));
      expect(await store.media.find('wa_1', 'm.2')).toMatchObject({ state: 'failed', lastError: 'gone', nextAttemptAt: null });
      expect(await store.media.forInteraction(i2!.id)).toMatchObject({ state: 'failed' });
      expect(await store.media.forInteraction('in_999999')).toBeUndefined();
    });

    it('renews a download\'s claim while it is fetched, against a second relay, and never revives a settled one', async () => {
      const relayB = await opened.another();
      await store.inbox.ingest([job({ messages: [withMedia('w.1', 'm.1'), withMedia('w.2', 'm.2')] })]);
      expect((await store.media.claimDue(T0, at(60), 10)).map((m) => m.mediaId).sort()).toEqual(['m.1', 'm.2']);
      // Relay A finishes m.2, and renews both while m.1 comes in
      await store.media.markStored('wa_1', 'm.2', { path: '/media/m.2.jpg', size: 1, sha256: 'cd'.repeat(32), mimeType: null }, at(10));
      await store.media.renewClaims([{ integrationId: 'wa_1', mediaId: 'm.1' }, { integrationId: 'wa_1', mediaId: 'm.2' }], at(120));
      expect(await relayB.media.claimDue(at(61), at(121), 10)).toEqual([]);
      expect(await relayB.media.find('wa_1', 'm.2')).toMatchObject({ state: 'stored' });
      // Once relay A stops renewing (it died), relay B takes m.1 over after the lease
      expect((await relayB.media.claimDue(at(121), at(181), 10)).map((m) => m.mediaId)).toEqual(['m.1']);
    });

    it('records uploads, finds media in a workspace, lists newest first, and drops claims for the one fetcher', async () => {
      await store.media.recordUpload(
        { integrationId: 'wa_1', mediaId: 'up.1', workspaceId: 'ws_1', mimeType: 'application/pdf', sha256: 'cd'.repeat(32), size: 99, filename: 'a.pdf', caption: null, path: '/up/a.pdf' },
        at(3),
      );
      await store.inbox.ingest([job({ receivedAt: at(1), messages: [withMedia('w.1', 'm.1')] })]);
      expect(await store.media.findInWorkspace('ws_1', 'up.1')).toMatchObject({ direction: 'out', state: 'uploaded', size: 99, interactionId: null, createdAt: at(3) });
      expect(await store.media.findInWorkspace('ws_2', 'up.1')).toBeUndefined();
      expect((await store.media.list('ws_1', 10)).map((m) => m.mediaId)).toEqual(['up.1', 'm.1']);
      expect(await store.media.list('ws_1', 1)).toHaveLength(1);

      expect(await store.media.claimDue(at(1), at(9), 10)).toHaveLength(1);
      expect(await store.media.releaseClaims()).toBe(1);
      expect(await store.media.claimDue(at(1), at(9), 10)).toHaveLength(1);
    });

    it('gives two fetchers claiming at the same moment disjoint downloads', async () => {
      const second = await opened.another();
      const ids = Array.from({ length: 40 }, (_, i) => `m.${i}`);
      await store.inbox.ingest([job({ messages: ids.map((id) => withMedia(`w.${id}`, id)) })]);
      const claims: string[][] = [[], []];
      await Promise.all(
        [store, second].map(async (s, i) => {
          for (;;) {
            const got = await s.media.claimDue(at(1), at(10), 3);
            if (got.length === 0) return;
            claims[i]!.push(...got.map((m) => m.mediaId));
          }
        }),
      );
      const all = [...claims[0]!, ...claims[1]!].sort();
      expect(all).toEqual([...ids].sort());
    });
  });

  describe('forward queues', () => {
    it('queues raw deliveries byte for byte with their signature, claimed with a lease and retried', async () => {
      const body = Buffer.from('{"object":"whatsapp_business_account","entry":[{"x":"\\u00fc"}]}\u00ff', 'latin1');
      const outcomes = await store.inbox.ingest([
        job({ raw: { integrationId: 'wa_1', body, signature: 'sha256=abc' } }),
        job({ receivedAt: at(1), raw: { integrationId: 'wa_1', body: Buffer.from('second'), signature: 'sha256=def' } }),
      ]);
      expect(outcomes.map((o) => o.eventsQueued)).toEqual([true, true]);
      const [first] = await store.forwards.raw.claimDue(T0, at(5), 10);
      expect(first).toMatchObject({ object: 'raw', signature: 'sha256=abc', attempts: 0, receivedAt: T0, workspaceId: 'ws_1', integrationId: 'wa_1' });
      expect(first!.body.equals(body)).toBe(true);
      // The second is due a minute later; the first is claimed until its lease ends
      const [second] = await store.forwards.raw.claimDue(at(1), at(5), 10);
      expect(second!.body.toString()).toBe('second');
      expect(await store.forwards.raw.claimDue(at(2), at(5), 10)).toEqual([]);

      await store.forwards.raw.markFailed(first!.id, 502, 'HTTP 502', at(3));
      await store.forwards.raw.markDelivered(second!.id, 200, at(2));
      expect((await store.forwards.raw.claimDue(at(3), at(8), 10)).map((q) => [q.id, q.attempts])).toEqual([[first!.id, 1]]);
      expect(await store.forwards.raw.releaseClaims()).toBe(1);
      await store.forwards.raw.markDelivered(first!.id, 200, at(4));
      expect(await store.forwards.raw.claimDue(at(100), at(101), 10)).toEqual([]);
      // Delivered stays delivered: a failure recorded after it (another relay's attempt whose lease ran out) does
      // not queue it again, so it is not delivered twice
      await store.forwards.raw.markFailed(first!.id, 502, 'late', at(5));
      expect(await store.forwards.raw.claimDue(at(100), at(101), 10)).toEqual([]);
    });

    it('lists what is handed on (not what is only logged), finds it with its bytes, drops and queues it again', async () => {
      await store.inbox.ingest([
        job({ changes: [change(editOf('w.none', 'x'), true)] }),
        job({ receivedAt: at(1), changes: [change(editOf('w.none', 'y'), false)] }), // only logged
        job({ receivedAt: at(2), raw: { integrationId: 'wa_1', body: Buffer.from('raw bytes'), signature: 'sha256=abc' } }),
      ]);
      const [event] = await store.forwards.events.list({ workspaceId: 'ws_1', failedOnly: false, limit: 10 });
      expect(await store.forwards.events.list({ workspaceId: 'ws_1', failedOnly: false, limit: 10 })).toHaveLength(1);
      expect(event).toMatchObject({ object: 'edit', state: 'pending', attempts: 0, workspaceId: 'ws_1', integrationId: 'wa_1', lastError: null });
      expect(await store.forwards.events.list({ workspaceId: 'ws_2', failedOnly: false, limit: 10 })).toEqual([]);
      const [raw] = await store.forwards.raw.list({ workspaceId: 'ws_1', failedOnly: false, limit: 10 });
      expect(raw).toMatchObject({ object: 'raw', state: 'pending' });
      const found = await store.forwards.raw.find(raw!.id);
      expect([found!.item.body.toString(), found!.item.signature]).toEqual(['raw bytes', 'sha256=abc']);
      expect(JSON.parse((await store.forwards.events.find(event!.id))!.item.body.toString())).toMatchObject({ object: 'edit' });

      // Failing: listed as such; dropped once, then never claimed; queued again, due at once
      const [claimed] = await store.forwards.events.claimDue(T0, at(1), 10);
      await store.forwards.events.markFailed(claimed!.id, 500, 'HTTP 500', at(3));
      expect(await store.forwards.events.list({ workspaceId: 'ws_1', failedOnly: true, limit: 10 })).toEqual([
        expect.objectContaining({ id: event!.id, state: 'retrying', attempts: 1, lastStatus: 500, lastError: 'HTTP 500', nextAttemptAt: at(3) }),
      ]);
      expect(await store.forwards.events.drop(event!.id)).toBe(true);
      expect(await store.forwards.events.drop(event!.id)).toBe(false);
      expect(await store.forwards.events.claimDue(at(10), at(11), 10)).toEqual([]);
      expect(await store.forwards.events.requeue(event!.id, at(10))).toMatchObject({ state: 'pending', nextAttemptAt: at(10), attempts: 1 });
      // A replay's claim holds against the forwarder and another replay, until it ends
      expect(await store.forwards.events.claimOne(event!.id, at(10), at(11))).toBe(true);
      expect(await store.forwards.events.claimOne(event!.id, at(10), at(11))).toBe(false);
      expect(await store.forwards.events.claimDue(at(10), at(11), 10)).toEqual([]);
      // A relay starting meanwhile drops only what a killed relay left: the replay's claim stays
      expect(await store.forwards.events.releaseClaims()).toBe(0);
      expect(await store.forwards.events.claimDue(at(10), at(11), 10)).toEqual([]);
      await store.forwards.events.releaseClaim(event!.id);
      expect((await store.forwards.events.claimDue(at(10), at(11), 10)).map((q) => q.id)).toEqual([event!.id]);
      // Something only logged is not one of them
      expect(await store.forwards.events.requeue(event!.id + 1, at(10))).toBeUndefined();
      expect(await store.forwards.events.find(event!.id + 1)).toBeUndefined();
    });

    it('gives two stores claiming events at the same moment disjoint items', async () => {
      const second = await opened.another();
      const docs = Array.from({ length: 30 }, (_, i) => status(`w.${i}`, 'sent', { forwardDoc: { n: i } }));
      await store.inbox.ingest([job({ statuses: docs })]);
      const claims: number[][] = [[], []];
      await Promise.all(
        [store, second].map(async (s, i) => {
          for (;;) {
            const got = await s.forwards.events.claimDue(at(1), at(10), 4);
            if (got.length === 0) return;
            claims[i]!.push(...got.map((q) => (JSON.parse(q.body.toString()) as { n: number }).n));
          }
        }),
      );
      expect([...claims[0]!, ...claims[1]!].sort((a, b) => a - b)).toEqual(docs.map((_, i) => i));
    });
  });
});
