import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_DELIVERY_ITEMS, UNKNOWN_TIMESTAMP, parseDelivery, renderMessageText } from '../../src/relay/parse.js';
import type { IgnoredItem, ParsedDelivery } from '../../src/relay/types.js';
import {
  FIXTURE_PHONE_NUMBER_ID,
  FIXTURES_DIR as FIXTURES,
  SHARED_FIXTURES_DIR as SHARED_FIXTURES,
  delivery,
  fixtureJson as fixture,
  messagesChange,
  textMessage,
} from '../helpers/webhooks.js';

// The in-repo copies are what the tests read; shared/ (beside the repo) is only compared against when present.
const META_DOCS_PHONE_NUMBER_ID = '106540352242922';

/** Parses a fixture with the given numbers connected (by default, the one pywa's samples use). */
function parseFixture(name: string, ...connected: string[]): ParsedDelivery {
  const ids = connected.length > 0 ? connected : [FIXTURE_PHONE_NUMBER_ID];
  return parseDelivery(fixture(name), { isConnected: (id) => ids.includes(id) });
}

const connectedTo =
  (...ids: string[]) =>
  (id: string) =>
    ids.includes(id);
const nothingConnected = () => false;

/** Parses a one-change delivery for a connected number. */
function parseValue(value: Record<string, unknown>): ParsedDelivery {
  const body = delivery({ id: 'WABA', changes: [messagesChange('P1', value)] });
  return parseDelivery(body, { isConnected: connectedTo('P1') });
}

describe('fixtures (public sample deliveries)', () => {
  const names = readdirSync(FIXTURES)
    .filter((name) => name.endsWith('.json'))
    .sort();

  it('keeps byte-for-byte copies of the shared fixtures, each with its provenance', () => {
    expect(names.length).toBeGreaterThanOrEqual(8);
    expect(existsSync(join(FIXTURES, 'README.md'))).toBe(true);
    for (const name of names) expect(existsSync(join(FIXTURES, name.replace(/\.json$/, '.source.txt')))).toBe(true);
  });

  it.skipIf(!existsSync(SHARED_FIXTURES))('matches shared/fixtures/webhooks exactly', () => {
    const shared = readdirSync(SHARED_FIXTURES).sort();
    for (const name of shared) {
      expect(readFileSync(join(FIXTURES, name)).equals(readFileSync(join(SHARED_FIXTURES, name))), name).toBe(true);
    }
  });

  const base = {
    channel: 'whatsapp',
    phoneNumberId: FIXTURE_PHONE_NUMBER_ID,
    from: '972987654321',
    fromKind: 'phone',
    contactName: 'Test Name',
    userId: 'US.13491208655302741918',
    mediaId: null,
    replyTo: null,
  } as const;

  it('01: a text message', () => {
    const parsed = parseFixture('01-inbound-text.json');
    expect(parsed.statuses).toEqual([]);
    expect(parsed.errors).toEqual([]);
    expect(parsed.ignored).toEqual([]);
    expect(parsed.messages).toHaveLength(1);
    const message = parsed.messages[0];
    expect(message).toMatchObject({
      ...base,
      wamid: 'wamid.xyzxyz',
      wabaId: '1234567890987654321',
      type: 'text',
      text: 'Body Text',
      timestamp: '2023-10-11T16:53:43.000Z',
    });
    expect(message?.raw).toEqual({
      from: '972987654321',
      id: 'wamid.xyzxyz',
      timestamp: '1697043223',
      text: { body: 'Body Text' },
      type: 'text',
    });
  });

  it('02: an image without caption', () => {
    const parsed = parseFixture('02-inbound-image.json');
    expect(parsed.ignored).toEqual([]);
    expect(parsed.messages).toEqual([
      expect.objectContaining({
        ...base,
        type: 'image',
        text: '[image] (media 65463453)',
        mediaId: '65463453',
        timestamp: '2023-10-11T16:56:19.000Z',
      }),
    ]);
  });

  it('03: an interactive button reply, replying to the business message', () => {
    const parsed = parseFixture('03-inbound-interactive-button-reply.json');
    expect(parsed.ignored).toEqual([]);
    expect(parsed.messages).toEqual([
      expect.objectContaining({
        ...base,
        wabaId: '5467539754836534',
        type: 'interactive',
        text: '[button] title (callback_data)',
        replyTo: 'wamid.xyzxyz',
        timestamp: '2023-10-25T20:45:30.000Z',
      }),
    ]);
  });

  it('06: a reaction whose emoji arrived \\u-escaped', () => {
    const parsed = parseFixture('06-inbound-reaction-emoji-escaped.json');
    expect(parsed.messages).toEqual([
      expect.objectContaining({
        ...base,
        type: 'reaction',
        text: '[reaction] 😮 to wamid.yzxyzx=',
        timestamp: '2023-10-11T17:14:16.000Z',
      }),
    ]);
  });

  it('12: a sent status, no message', () => {
    const parsed = parseFixture('12-status-sent.json');
    expect(parsed.messages).toEqual([]);
    expect(parsed.ignored).toEqual([]);
    expect(parsed.statuses).toEqual([
      expect.objectContaining({
        wamid: 'wamid.xyzxyz',
        phoneNumberId: FIXTURE_PHONE_NUMBER_ID,
        status: 'sent',
        recipientId: '972987654321',
        timestamp: '2023-10-25T20:49:05.000Z',
        errorCode: null,
        errorTitle: null,
        errorDetails: null,
      }),
    ]);
    expect(parsed.statuses[0]?.raw).toHaveProperty('pricing.category', 'service');
  });

  it("13: a failed status carries Meta's first error", () => {
    const parsed = parseFixture('13-status-failed.json');
    expect(parsed.statuses).toEqual([
      expect.objectContaining({
        wamid: 'wamid.xyzxyz',
        status: 'failed',
        timestamp: '2023-07-15T00:20:58.000Z',
        errorCode: 130472,
        errorTitle: "User's number is part of an experiment",
        errorDetails: "Failed to send message because this user's phone number is part of an experiment",
      }),
    ]);
    expect(parsed.messages).toEqual([]);
  });

  it('14: a template status update is a template change (with Meta\'s reason), whatever number is connected', () => {
    const expected: ParsedDelivery = {
      messages: [],
      statuses: [],
      errors: [],
      changes: [
        expect.objectContaining({
          kind: 'template',
          field: 'message_template_status_update',
          wabaId: '102290129340398',
          templateId: '1689556908129835',
          name: 'abandoned_cart',
          language: 'en',
          status: 'REJECTED',
          reason: expect.stringMatching(/^INVALID_FORMAT: Your template has parameters placed next to each other/),
          category: 'MARKETING',
        }),
      ],
      ignored: [],
      overBudget: false,
    };
    const name = '14-template-status-update-rejected.json';
    expect(parseDelivery(fixture(name), { isConnected: () => true })).toEqual(expected);
    expect(parseDelivery(fixture(name), { isConnected: nothingConnected })).toEqual(expected);
  });

  it("16: Meta's own reference example (contact without user_id)", () => {
    const parsed = parseFixture('16-meta-docs-inbound-text.json', META_DOCS_PHONE_NUMBER_ID);
    expect(parsed.ignored).toEqual([]);
    expect(parsed.messages).toEqual([
      expect.objectContaining({
        wamid: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
        phoneNumberId: META_DOCS_PHONE_NUMBER_ID,
        wabaId: '102290129340398',
        from: '16505551234',
        fromKind: 'phone',
        contactName: 'Sheena Nelson',
        userId: null,
        text: 'Does it come in another color?',
        timestamp: '2025-06-08T20:59:43.000Z',
      }),
    ]);
  });

  it.each(names.filter((name) => !name.startsWith('14-')))(
    '%s: routes by phone_number_id; an unconnected number is one unknown_phone_number item',
    (name) => {
      const asked: string[] = [];
      const parsed = parseDelivery(fixture(name), {
        isConnected: (id) => {
          asked.push(id);
          return false;
        },
      });
      const expectedId = name.startsWith('16-') ? META_DOCS_PHONE_NUMBER_ID : FIXTURE_PHONE_NUMBER_ID;
      expect(asked).toEqual([expectedId]);
      expect(parsed).toEqual({
        messages: [],
        statuses: [],
        errors: [],
        changes: [],
        ignored: [{ reason: 'unknown_phone_number', field: 'messages', phoneNumberId: expectedId }],
        overBudget: false,
      });
    },
  );
});

describe('batched deliveries', () => {
  it('walks every entry and change, in payload order', () => {
    // Given two WABAs, each with two changes: messages + statuses for connected numbers, a template update,
    // and a change for a number lumen does not know.
    const body = delivery(
      {
        id: 'WABA-1',
        changes: [
          messagesChange('P1', {
            contacts: [
              { profile: { name: 'Ann' }, wa_id: '111' },
              { profile: { name: 'Bob' }, wa_id: '222' },
            ],
            messages: [textMessage({ wamid: 'wamid.m1', from: '111', body: 'first' }), textMessage({ wamid: 'wamid.m2', from: '222', body: 'second' })],
            statuses: [{ id: 'wamid.out1', status: 'delivered', timestamp: '1700000001', recipient_id: '111' }],
          }),
          { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 1 } },
        ],
      },
      {
        id: 'WABA-2',
        changes: [
          messagesChange('P2', {
            statuses: [
              { id: 'wamid.out2', status: 'read', timestamp: '1700000002', recipient_id: '333' },
              { id: 'wamid.out3', status: 'sent', timestamp: '1700000003', recipient_id: '333' },
            ],
          }),
          messagesChange('P-OTHER', { messages: [textMessage({ wamid: 'wamid.m3', from: '444', body: 'not ours' })] }),
        ],
      },
    );

    // When it is parsed with P1 and P2 connected
    const parsed = parseDelivery(body, { isConnected: connectedTo('P1', 'P2') });

    // Then every piece is accounted for, in order
    expect(parsed.messages.map((m) => [m.wamid, m.phoneNumberId, m.wabaId, m.contactName, m.text])).toEqual([
      ['wamid.m1', 'P1', 'WABA-1', 'Ann', 'first'],
      ['wamid.m2', 'P1', 'WABA-1', 'Bob', 'second'],
    ]);
    expect(parsed.statuses.map((s) => [s.wamid, s.phoneNumberId, s.status])).toEqual([
      ['wamid.out1', 'P1', 'delivered'],
      ['wamid.out2', 'P2', 'read'],
      ['wamid.out3', 'P2', 'sent'],
    ]);
    expect(parsed.changes).toEqual([expect.objectContaining({ kind: 'template', templateId: '1', status: 'APPROVED' })]);
    expect(parsed.ignored).toEqual([
      { reason: 'unknown_phone_number', field: 'messages', phoneNumberId: 'P-OTHER' },
    ]);
    expect(parsed.errors).toEqual([]);
  });

  it("acknowledges Meta's dashboard Test sample (an unconnected placeholder number) as ignored", () => {
    const body = delivery({
      id: '0',
      changes: [
        messagesChange('123456123', {
          contacts: [{ profile: { name: 'test user name' }, wa_id: '16315551181' }],
          messages: [textMessage({ wamid: 'ABGGFlA5Fpa', from: '16315551181', body: 'this is a text message', timestamp: '1504902988' })],
        }),
      ],
    });
    const parsed = parseDelivery(body, { isConnected: connectedTo('P1') });
    expect(parsed.messages).toEqual([]);
    expect(parsed.ignored).toEqual([{ reason: 'unknown_phone_number', field: 'messages', phoneNumberId: '123456123' }]);
  });

  it('reports value-level errors[] as webhook errors', () => {
    const parsed = parseValue({
      errors: [
        {
          code: 131051,
          title: 'Message type unknown',
          message: 'Message type unknown',
          error_data: { details: 'Message type is currently not supported.' },
        },
        { code: 'x', title: 7 },
      ],
    });
    expect(parsed.errors).toEqual([
      {
        field: 'messages',
        phoneNumberId: 'P1',
        wabaId: 'WABA',
        code: 131051,
        title: 'Message type unknown',
        message: 'Message type unknown',
        details: 'Message type is currently not supported.',
        raw: expect.objectContaining({ code: 131051 }),
      },
      {
        field: 'messages',
        phoneNumberId: 'P1',
        wabaId: 'WABA',
        code: null,
        title: null,
        message: null,
        details: null,
        raw: { code: 'x', title: 7 },
      },
    ]);
    expect(parsed.ignored).toEqual([]);
  });

  it('still reports errors[] when metadata is missing, with a null number', () => {
    const body = delivery({
      id: 'W',
      changes: [
        { field: 'messages', value: { errors: [{ code: 1, title: 'Unknown', error_data: { details: 'd' } }] } },
      ],
    });
    const parsed = parseDelivery(body, { isConnected: () => true });
    expect(parsed.errors).toEqual([
      expect.objectContaining({ field: 'messages', phoneNumberId: null, code: 1, title: 'Unknown', details: 'd' }),
    ]);
    expect(parsed.ignored).toEqual([expect.objectContaining({ reason: 'malformed', field: 'messages' })]);
  });
});

describe('senders', () => {
  it('takes a username user (no from) from from_user_id, matching the contact by user_id', () => {
    const parsed = parseValue({
      contacts: [
        { profile: { name: 'Someone else' }, wa_id: '999' },
        { profile: { name: '@maria' }, user_id: 'BR.1502576394655843', username: '@maria' },
      ],
      messages: [{ from_user_id: 'BR.1502576394655843', id: 'wamid.u1', type: 'text', text: { body: 'oi' } }],
    });
    expect(parsed.ignored).toEqual([]);
    expect(parsed.messages).toEqual([
      expect.objectContaining({
        from: 'BR.1502576394655843',
        fromKind: 'user_id',
        userId: 'BR.1502576394655843',
        contactName: '@maria',
        text: 'oi',
      }),
    ]);
  });

  it("falls back to the only contact's user_id when the message names no sender", () => {
    const parsed = parseValue({
      contacts: [{ profile: { name: 'Maria' }, user_id: 'BR.77' }],
      messages: [{ id: 'wamid.u2', timestamp: '1700000000', type: 'text', text: { body: 'oi' } }],
    });
    expect(parsed.messages).toEqual([
      expect.objectContaining({ from: 'BR.77', fromKind: 'user_id', userId: 'BR.77', contactName: 'Maria' }),
    ]);
  });

  it('keeps the phone as sender and records the user id when both are given', () => {
    const parsed = parseValue({
      contacts: [{ profile: { name: 'Krish' }, wa_id: '919810218674', user_id: 'IN.1410018717833190' }],
      messages: [{ ...textMessage({ wamid: 'wamid.b', from: '919810218674', body: 'Hey' }), from_user_id: 'IN.1410018717833190' }],
    });
    expect(parsed.messages).toEqual([
      expect.objectContaining({
        from: '919810218674',
        fromKind: 'phone',
        userId: 'IN.1410018717833190',
        contactName: 'Krish',
      }),
    ]);
  });

  it('does not borrow the only contact when it names a different sender', () => {
    const parsed = parseValue({
      contacts: [{ profile: { name: 'Ann' }, wa_id: '111', user_id: 'US.1' }],
      messages: [textMessage({ wamid: 'wamid.x', from: '222', body: 'hi' })],
    });
    expect(parsed.messages).toEqual([expect.objectContaining({ from: '222', contactName: null, userId: null })]);
  });

  it('uses the only contact when it has no identifier of its own', () => {
    const parsed = parseValue({
      contacts: [{ profile: { name: 'Ann' } }],
      messages: [textMessage({ wamid: 'wamid.x', from: '222', body: 'hi' })],
    });
    expect(parsed.messages[0]?.contactName).toBe('Ann');
  });

  it('drops, as malformed, a message without an id or without any sender, and keeps the others', () => {
    const parsed = parseValue({
      messages: [
        { from: '1', timestamp: '1700000000', type: 'text', text: { body: 'no id' } },
        { id: 'wamid.nosender', timestamp: '1700000000', type: 'text', text: { body: 'who?' } },
        textMessage({ wamid: 'wamid.ok', from: '1', body: 'fine' }),
        { id: 42, from: '1', type: 'text' },
      ],
    });
    expect(parsed.messages.map((m) => m.wamid)).toEqual(['wamid.ok']);
    expect(parsed.ignored).toEqual([
      expect.objectContaining({
        reason: 'malformed',
        phoneNumberId: 'P1',
        detail: expect.stringContaining('messages[0] has no id'),
      }),
      expect.objectContaining({ reason: 'malformed', detail: expect.stringContaining('messages[1] has no sender') }),
      expect.objectContaining({ reason: 'malformed', detail: expect.stringContaining('messages[3] has no id') }),
    ]);
  });
});

describe('timestamps and details', () => {
  it.each([
    ['1697043223', '2023-10-11T16:53:43.000Z'],
    [1697043223, '2023-10-11T16:53:43.000Z'],
    ['0', UNKNOWN_TIMESTAMP],
    ['1', UNKNOWN_TIMESTAMP], // before WhatsApp existed
    ['1230768000', '2009-01-01T00:00:00.000Z'],
    [undefined, UNKNOWN_TIMESTAMP],
    ['', UNKNOWN_TIMESTAMP],
    ['soon', UNKNOWN_TIMESTAMP],
    ['1697043223.5', UNKNOWN_TIMESTAMP],
    ['-5', UNKNOWN_TIMESTAMP],
    ['99999999999999999999', UNKNOWN_TIMESTAMP],
    [1e300, UNKNOWN_TIMESTAMP],
    [null, UNKNOWN_TIMESTAMP],
    [{}, UNKNOWN_TIMESTAMP],
  ])('timestamp %j becomes %s and the message is kept', (timestamp, expected) => {
    const message = { from: '1', id: 'wamid.t', timestamp, type: 'text', text: { body: 'x' } };
    const parsed = parseValue({ messages: [message] });
    expect(parsed.messages.map((m) => m.timestamp)).toEqual([expected]);
    expect(parsed.ignored).toEqual([]);
  });

  it('takes a type it does not know as is', () => {
    const message = { from: '1', id: 'wamid.p', timestamp: '1700000000', type: 'poll', poll: {} };
    const parsed = parseValue({ messages: [message] });
    expect(parsed.messages).toEqual([expect.objectContaining({ type: 'poll', text: '[poll]', mediaId: null })]);
  });

  it('drops a status without id or status, and reads recipient_user_id for username users', () => {
    const parsed = parseValue({
      statuses: [
        { status: 'sent', timestamp: '1700000000' },
        { id: 'wamid.s', timestamp: '1700000000' },
        { id: 'wamid.s', status: 'read', timestamp: '1700000000', recipient_user_id: 'US.9' },
        'delivered',
      ],
    });
    expect(parsed.statuses).toEqual([
      expect.objectContaining({ wamid: 'wamid.s', status: 'read', recipientId: 'US.9' }),
    ]);
    expect(parsed.ignored.map((item) => item.detail)).toEqual([
      expect.stringContaining('statuses[0] has no id'),
      expect.stringContaining('statuses[1] has no status'),
      expect.stringContaining('statuses[3] is the string "delivered"'),
    ]);
  });
});

describe('renderMessageText', () => {
  const media = { mime_type: 'image/jpeg', sha256: 'abc=' };
  it.each<[string, Record<string, unknown>, string]>([
    ['text keeps its body as sent', { type: 'text', text: { body: 'hi\nthere' } }, 'hi\nthere'],
    ['text without body', { type: 'text' }, '[text]'],
    [
      'image with caption on one line',
      { type: 'image', image: { ...media, caption: 'Look\r\nhere ', id: '123' } },
      '[image] Look here (media 123)',
    ],
    ['image with nothing', { type: 'image' }, '[image]'],
    ['video', { type: 'video', video: { mime_type: 'video/mp4', sha256: 'x', id: '9' } }, '[video] (media 9)'],
    [
      'sticker',
      { type: 'sticker', sticker: { mime_type: 'image/webp', sha256: 'x', id: '77', animated: false } },
      '[sticker] (media 77)',
    ],
    [
      'voice note',
      { type: 'audio', audio: { mime_type: 'audio/ogg; codecs=opus', sha256: 'x', id: '55', voice: true } },
      '[voice] (media 55)',
    ],
    [
      'audio file',
      { type: 'audio', audio: { mime_type: 'audio/mpeg', sha256: 'x', id: '56', voice: false } },
      '[audio] (media 56)',
    ],
    [
      'document with filename and caption',
      {
        type: 'document',
        document: { caption: 'Q3', filename: 'report.pdf', mime_type: 'application/pdf', sha256: 'x', id: '88' },
      },
      '[document] report.pdf — Q3 (media 88)',
    ],
    [
      'document with filename only',
      { type: 'document', document: { filename: 'report.pdf', id: '88' } },
      '[document] report.pdf (media 88)',
    ],
    [
      'location',
      {
        type: 'location',
        location: {
          latitude: 37.483307,
          longitude: -122.148981,
          name: 'Philz Coffee',
          address: '101 Forest Ave, Palo Alto, CA 94301',
        },
      },
      '[location] Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301 (37.483307, -122.148981)',
    ],
    ['location pin only', { type: 'location', location: { latitude: 1.5, longitude: '-2' } }, '[location] (1.5, -2)'],
    ['location address only', { type: 'location', location: { address: 'Main St' } }, '[location] Main St'],
    [
      'one shared contact',
      {
        type: 'contacts',
        contacts: [
          {
            name: { formatted_name: 'John Smith', first_name: 'John', last_name: 'Smith' },
            phones: [{ phone: '+1 (940) 555-1234', wa_id: '19405551234', type: 'HOME' }],
            emails: [{ email: 'john@example.com', type: 'WORK' }],
          },
        ],
      },
      '[contacts] John Smith +1 (940) 555-1234',
    ],
    [
      'several shared contacts',
      { type: 'contacts', contacts: [{ name: { first_name: 'Ann', last_name: 'Lee' } }, { name: {} }, {}] },
      '[contacts] Ann Lee and 2 more',
    ],
    ['contacts without entries', { type: 'contacts', contacts: [] }, '[contacts]'],
    [
      'interactive button reply',
      { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'yes-id', title: 'Yes' } } },
      '[button] Yes (yes-id)',
    ],
    [
      'interactive list reply',
      {
        type: 'interactive',
        interactive: { type: 'list_reply', list_reply: { id: 'row-1', title: 'Blue', description: 'Sky' } },
      },
      '[list] Blue (row-1)',
    ],
    [
      'flow reply',
      {
        type: 'interactive',
        interactive: {
          type: 'nfm_reply',
          nfm_reply: { name: 'flow', body: 'Sent', response_json: '{"flow_token":"t1","name":"Ann"}' },
        },
      },
      '[flow] Sent {"flow_token":"t1","name":"Ann"}',
    ],
    [
      'flow reply with name only',
      {
        type: 'interactive',
        interactive: { type: 'nfm_reply', nfm_reply: { name: 'address_message', response_json: '{}' } },
      },
      '[flow] address_message {}',
    ],
    [
      'newer interactive reply',
      {
        type: 'interactive',
        interactive: { type: 'call_permission_reply', call_permission_reply: { response: 'accept' } },
      },
      '[interactive] call_permission_reply',
    ],
    ['interactive without subtype', { type: 'interactive', interactive: {} }, '[interactive]'],
    [
      'template quick-reply button',
      { type: 'button', context: { from: '1', id: 'wamid.tpl' }, button: { text: 'Yes', payload: 'YES_PAYLOAD' } },
      '[button] Yes (YES_PAYLOAD)',
    ],
    ['reaction', { type: 'reaction', reaction: { message_id: 'wamid.A', emoji: '👍' } }, '[reaction] 👍 to wamid.A'],
    [
      'reaction removed (empty emoji)',
      { type: 'reaction', reaction: { message_id: 'wamid.A', emoji: '' } },
      '[reaction removed] to wamid.A',
    ],
    [
      'reaction removed (no emoji)',
      { type: 'reaction', reaction: { message_id: 'wamid.A' } },
      '[reaction removed] to wamid.A',
    ],
    [
      'order with a note',
      {
        type: 'order',
        order: {
          catalog_id: 'CAT1',
          text: 'asap',
          product_items: [
            { product_retailer_id: 'SKU1', quantity: 1, item_price: 10, currency: 'USD' },
            { product_retailer_id: 'SKU2', quantity: 3, item_price: 5, currency: 'USD' },
          ],
        },
      },
      '[order] 2 items from catalog CAT1 — asap',
    ],
    [
      'order of one item',
      { type: 'order', order: { catalog_id: 'CAT1', product_items: [{ product_retailer_id: 'SKU1', quantity: 1 }] } },
      '[order] 1 item from catalog CAT1',
    ],
    [
      'system',
      { type: 'system', system: { body: 'NAME changed from 1 to 2', new_wa_id: '2', type: 'user_changed_number' } },
      '[system] NAME changed from 1 to 2',
    ],
    [
      'unsupported',
      {
        type: 'unsupported',
        errors: [
          {
            code: 131051,
            title: 'Message type unknown',
            message: 'Message type unknown',
            error_data: { details: 'Message type is currently not supported.' },
          },
        ],
        unsupported: { type: 'edit' },
      },
      '[unsupported] Message type unknown (edit)',
    ],
    [
      'unsupported with details only',
      { type: 'unsupported', errors: [{ code: 131051, error_data: { details: 'Not supported.' } }] },
      '[unsupported] Not supported.',
    ],
    ['unsupported bare', { type: 'unsupported' }, '[unsupported]'],
    [
      'legacy unknown',
      {
        type: 'unknown',
        errors: [{ code: 131051, title: 'Unsupported message type', details: 'Message type is not currently supported' }],
      },
      '[unknown] Unsupported message type',
    ],
    ['request_welcome', { type: 'request_welcome' }, '[request_welcome]'],
    ['a newer type', { type: 'poll', poll: { question: '?' } }, '[poll]'],
    ['no type', {}, '[unknown]'],
  ])('%s', (_name, message, expected) => {
    expect(renderMessageText(message)).toBe(expected);
  });

  it('truncates a long flow response to about 200 characters', () => {
    const response = JSON.stringify({ flow_token: 't', answer: 'x'.repeat(500) });
    const text = renderMessageText({
      type: 'interactive',
      interactive: { type: 'nfm_reply', nfm_reply: { body: 'Sent', response_json: response } },
    });
    expect(text.startsWith('[flow] Sent {"flow_token":"t"')).toBe(true);
    expect(text.endsWith('…')).toBe(true);
    expect(text.length).toBeLessThanOrEqual('[flow] Sent '.length + 201);
  });

  const types = [
    'text', 'image', 'video', 'audio', 'document', 'sticker', 'location', 'contacts', 'interactive', 'button',
    'reaction', 'order', 'system', 'unsupported', 'request_welcome', 'unknown', 'poll',
  ];
  const wrongPayloads: unknown[] = [undefined, null, 7, 'str', [], {}, { id: null, caption: 3, emoji: {}, body: [] }];
  const wrongInteractive: unknown[] = [
    { type: 'button_reply' },
    { type: 'button_reply', button_reply: { title: null, id: undefined } },
    { type: 'list_reply', list_reply: 'x' },
    { type: 'nfm_reply', nfm_reply: { response_json: 5 } },
    { type: 7 },
  ];

  it('never writes "undefined" or "null", and bracketed forms stay on one line, whatever the payload', () => {
    for (const type of types) {
      for (const payload of [...wrongPayloads, ...(type === 'interactive' ? wrongInteractive : [])]) {
        const message: Record<string, unknown> = { type, [type]: payload, errors: payload };
        const text = renderMessageText(message);
        expect(text, `${type} ${JSON.stringify(payload)}`).not.toMatch(/undefined|null|NaN|\[object/);
        if (text.startsWith('[')) expect(text).not.toMatch(/[\r\n]/);
      }
    }
  });

  it('renders every message in a parsed delivery the same way', () => {
    const message = { from: '1', id: 'wamid.r', type: 'reaction', reaction: { message_id: 'wamid.A' } };
    const parsed = parseValue({ messages: [message] });
    expect(parsed.messages[0]?.text).toBe('[reaction removed] to wamid.A');
  });
});

describe('garbage in, never an exception', () => {
  const ok = { isConnected: () => true };
  const onlyIgnored = (parsed: ParsedDelivery): IgnoredItem[] => {
    expect(parsed.messages).toEqual([]);
    expect(parsed.statuses).toEqual([]);
    return parsed.ignored;
  };

  it.each<[string, unknown]>([
    ['null', null],
    ['an empty array', []],
    ['a string', 'x'],
    ['a number', 42],
    ['true', true],
    ['undefined', undefined],
  ])('%s is one malformed item', (_name, body) => {
    expect(onlyIgnored(parseDelivery(body, ok))).toEqual([{ reason: 'malformed', detail: expect.any(String) }]);
  });

  it('another object kind is not_whatsapp_business_account', () => {
    expect(onlyIgnored(parseDelivery({ object: 'page', entry: [] }, ok))).toEqual([
      { reason: 'not_whatsapp_business_account', detail: 'object is the string "page"' },
    ]);
    expect(onlyIgnored(parseDelivery({ entry: [] }, ok))).toEqual([
      { reason: 'not_whatsapp_business_account', detail: 'object is missing' },
    ]);
  });

  it.each<[string, unknown]>([
    ['entry is not an array', { object: 'whatsapp_business_account', entry: { id: '1' } }],
    ['entry is missing', { object: 'whatsapp_business_account' }],
    ['an entry is null', delivery(null as never)],
    ['changes is a string', delivery({ id: '1', changes: 'messages' as never })],
    ['a change is a number', delivery({ id: '1', changes: [5] })],
    ['a change has no field', delivery({ id: '1', changes: [{ value: {} }] })],
    ['a change value is null', delivery({ id: '1', changes: [{ field: 'messages', value: null }] })],
    ['metadata is missing', delivery({ id: '1', changes: [{ field: 'messages', value: { messages: [] } }] })],
    [
      'phone_number_id is a number',
      delivery({ id: '1', changes: [{ field: 'messages', value: { metadata: { phone_number_id: 1 } } }] }),
    ],
    ['messages is an object', delivery({ id: '1', changes: [messagesChange('P1', { messages: { id: 'wamid' } })] })],
    ['statuses is a string', delivery({ id: '1', changes: [messagesChange('P1', { statuses: 'sent' })] })],
    ['errors is a number', delivery({ id: '1', changes: [messagesChange('P1', { errors: 3 })] })],
    ['the value has nothing to process', delivery({ id: '1', changes: [messagesChange('P1', {})] })],
  ])('%s: one malformed item', (_name, body) => {
    const ignored = onlyIgnored(parseDelivery(body, { isConnected: connectedTo('P1') }));
    expect(ignored).toHaveLength(1);
    expect(ignored[0]?.reason).toBe('malformed');
  });

  it('messages that are numbers, strings or arrays are each malformed, without a crash', () => {
    const parsed = parseValue({
      messages: [1, 'two', [3], null, true, textMessage({ wamid: 'wamid.ok', from: '1', body: 'ok' })],
      contacts: 'nope',
    });
    expect(parsed.messages.map((m) => m.wamid)).toEqual(['wamid.ok']);
    expect(parsed.ignored).toHaveLength(5);
    expect(parsed.ignored.every((item) => item.reason === 'malformed')).toBe(true);
  });

  it('wrong types inside a message never leak into the result', () => {
    const parsed = parseValue({
      contacts: [{ profile: { name: 5 }, wa_id: '1', user_id: {} }, null, 'x'],
      messages: [{ from: '1', id: 'wamid.w', timestamp: [], type: 12, context: 'x', text: 'x', image: [] }],
    });
    expect(parsed.messages).toEqual([
      expect.objectContaining({
        wamid: 'wamid.w',
        from: '1',
        contactName: null,
        userId: null,
        type: 'unknown',
        text: '[unknown]',
        mediaId: null,
        replyTo: null,
        timestamp: UNKNOWN_TIMESTAMP,
      }),
    ]);
  });

  it('treats "__proto__" and "constructor" keys as plain data', () => {
    const body = JSON.parse(
      '{"object":"whatsapp_business_account","__proto__":{"polluted":1},' +
        '"entry":[{"id":"W","__proto__":{"changes":[]},' +
        '"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"P1"},' +
        '"contacts":[{"wa_id":"__proto__","profile":{"name":"Odd"}}],' +
        '"messages":[{"id":"wamid.proto","from":"__proto__","type":"constructor",' +
        '"__proto__":{"text":{"body":"x"}}}]}}]}]}',
    ) as unknown;
    const parsed = parseDelivery(body, { isConnected: connectedTo('P1') });
    expect(parsed.messages).toEqual([
      expect.objectContaining({
        wamid: 'wamid.proto',
        from: '__proto__',
        contactName: 'Odd',
        type: 'constructor',
        text: '[constructor]',
      }),
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  const HUGE = 100_000;
  /**
   * The array, counting the items the parser reads: the measure of its work on a huge input, which (unlike a time
   * budget) is the same on every machine. A parser that walked the whole input would read all of it.
   */
  const counted = <T>(items: T[]): { items: T[]; reads: () => number } => {
    let reads = 0;
    const proxy = new Proxy(items, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads += 1;
        return Reflect.get(target, key, receiver);
      },
    });
    return { items: proxy, reads: () => reads };
  };
  const tooLarge = (parsed: ParsedDelivery) =>
    parsed.ignored.filter((item) => item.detail?.startsWith('delivery too large'));

  it(`caps a ${HUGE.toLocaleString('en')}-entry array: reads no more than the budget, and one item says so`, () => {
    const entries = counted(Array.from({ length: HUGE }, () => ({ id: 'W', changes: [] })));
    const parsed = parseDelivery({ ...delivery(), entry: entries.items }, ok);
    expect(entries.reads()).toBeLessThanOrEqual(MAX_DELIVERY_ITEMS);
    expect(tooLarge(parsed)).toHaveLength(1);
    expect(parsed.ignored).toHaveLength(1);
  });

  it(`caps ${HUGE.toLocaleString('en')} malformed changes and ${HUGE.toLocaleString('en')} numeric messages`, () => {
    const changes = counted<unknown>(Array(HUGE).fill(5));
    const messages = counted<unknown>(Array(HUGE).fill(7));
    changes.items[0] = messagesChange('P1', { messages: messages.items });
    const body = delivery({ id: 'W', changes: changes.items });
    const parsed = parseDelivery(body, { isConnected: connectedTo('P1') });
    expect(changes.reads() + messages.reads()).toBeLessThanOrEqual(MAX_DELIVERY_ITEMS);
    expect(parsed.ignored.length).toBeLessThanOrEqual(MAX_DELIVERY_ITEMS + 1);
    expect(tooLarge(parsed)).toHaveLength(1);
  });

  it(`keeps the first messages of a ${HUGE.toLocaleString('en')}-message change with as many contacts`, () => {
    const messages = counted(Array.from({ length: HUGE }, (_, i) => textMessage({ wamid: `wamid.${i}`, from: String(i), body: 'hi' })));
    const contacts = counted(Array.from({ length: HUGE }, (_, i) => ({ profile: { name: `n${i}` }, wa_id: String(i) })));
    const statuses = counted(Array.from({ length: HUGE }, (_, i) => ({ id: `wamid.s${i}`, status: 'read' })));
    const parsed = parseValue({ messages: messages.items, contacts: contacts.items, statuses: statuses.items });
    expect(messages.reads() + contacts.reads() + statuses.reads()).toBeLessThanOrEqual(MAX_DELIVERY_ITEMS);
    expect(parsed.messages.length).toBeGreaterThan(0);
    expect(parsed.messages.length + parsed.statuses.length).toBeLessThan(MAX_DELIVERY_ITEMS);
    expect(parsed.messages[0]).toMatchObject({ wamid: 'wamid.0', from: '0' });
    expect(tooLarge(parsed)).toHaveLength(1);
  });

  it('a realistic batch well under the cap is not truncated', () => {
    const messages = Array.from({ length: 1_000 }, (_, i) => textMessage({ wamid: `wamid.${i}`, from: '1', body: `m${i}` }));
    const parsed = parseValue({ messages, contacts: [{ profile: { name: 'A' }, wa_id: '1' }] });
    expect(parsed.messages).toHaveLength(1_000);
    expect(parsed.ignored).toEqual([]);
  });

  it('deeply nested junk is not walked', () => {
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = { entry: deep, changes: [deep] };
    expect(() => parseDelivery({ object: 'whatsapp_business_account', entry: [deep] }, ok)).not.toThrow();
    const message = { id: 'wamid.d', from: '1', type: 'text', text: deep, context: deep };
    expect(() => parseValue({ messages: [message] })).not.toThrow();
  });
});
