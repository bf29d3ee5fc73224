/**
 * The holes the webhook contract must not have: a delivery over the parse budget is reported as such (so the relay
 * can refuse it whole), payload strings never reach Object.prototype, ids are the same after a UTF-8 round trip,
 * and Meta's value-level errors are all returned.
 */
import { describe, expect, it } from 'vitest';
import { MAX_DELIVERY_ITEMS, parseDelivery } from '../../src/relay/parse.js';
import { toWellFormed } from '../../src/relay/payload.js';
import type { ParsedDelivery } from '../../src/relay/types.js';
import { delivery, entry, messagesChange, textMessage } from '../helpers/webhooks.js';

const connectedTo =
  (...ids: string[]) =>
  (id: string) =>
    ids.includes(id);

/** Parses a one-change delivery for the connected number P1. */
function parseValue(value: Record<string, unknown>): ParsedDelivery {
  return parseDelivery(delivery(entry([messagesChange('P1', value)], 'WABA')), { isConnected: connectedTo('P1') });
}

/** Parses JSON text the way the relay does (own `__proto__` keys included). */
function parseJson(json: string): ParsedDelivery {
  return parseDelivery(JSON.parse(json) as unknown, { isConnected: connectedTo('P1') });
}

const textMessages = (count: number) => Array.from({ length: count }, (_, i) => textMessage({ wamid: `wamid.${i}`, from: '1', body: 'hi' }));
const anyNumber = { isConnected: () => true };
const tooLargeItems = (parsed: ParsedDelivery) =>
  parsed.ignored.filter((item) => item.detail?.startsWith('delivery too large'));

describe('a delivery over the parse budget says so (the relay refuses it whole)', () => {
  it('12,000 messages: overBudget, with the part that was parsed and one ignored item', () => {
    const parsed = parseValue({ messages: textMessages(12_000) });
    expect(parsed.overBudget).toBe(true);
    // One entry and one change count too: 9,998 messages fit.
    expect(parsed.messages).toHaveLength(MAX_DELIVERY_ITEMS - 2);
    expect(tooLargeItems(parsed)).toHaveLength(1);
  });

  it('exactly the budget is not over it; one item more is', () => {
    const atBudget = parseValue({ messages: textMessages(MAX_DELIVERY_ITEMS - 2) });
    expect(atBudget.overBudget).toBe(false);
    expect(atBudget.messages).toHaveLength(MAX_DELIVERY_ITEMS - 2);
    expect(atBudget.ignored).toEqual([]);

    const oneMore = parseValue({ messages: textMessages(MAX_DELIVERY_ITEMS - 1) });
    expect(oneMore.overBudget).toBe(true);
    expect(tooLargeItems(oneMore)).toHaveLength(1);
  });

  it('contacts, statuses, errors, entries and changes count against the budget too', () => {
    const contacts = Array.from({ length: 6_000 }, (_, i) => ({ profile: { name: `n${i}` }, wa_id: String(i) }));
    expect(parseValue({ contacts, messages: textMessages(5_000) }).overBudget).toBe(true);

    const statuses = Array.from({ length: MAX_DELIVERY_ITEMS }, (_, i) => ({ id: `wamid.s${i}`, status: 'read' }));
    expect(parseValue({ statuses }).overBudget).toBe(true);

    const errors = Array.from({ length: MAX_DELIVERY_ITEMS }, () => ({ code: 1, title: 'x' }));
    expect(parseValue({ errors }).overBudget).toBe(true);

    const entries = Array.from({ length: MAX_DELIVERY_ITEMS + 1 }, () => ({ id: 'W', changes: [] }));
    expect(parseDelivery({ object: 'whatsapp_business_account', entry: entries }, anyNumber).overBudget).toBe(true);

    const changes = Array.from({ length: MAX_DELIVERY_ITEMS }, () => ({ field: 'account_update', value: {} }));
    expect(parseDelivery(delivery(entry(changes, 'WABA')), anyNumber).overBudget).toBe(true);
  });

  it('is false for ordinary deliveries and for bodies refused before any walking', () => {
    expect(parseValue({ messages: textMessages(3) }).overBudget).toBe(false);
    expect(parseDelivery(null, anyNumber).overBudget).toBe(false);
    expect(parseDelivery({ object: 'page' }, anyNumber).overBudget).toBe(false);
    expect(parseDelivery({ object: 'whatsapp_business_account', entry: 'x' }, anyNumber).overBudget).toBe(false);
  });
});

const PROTOTYPE_NAMES = [
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupGetter__',
];

describe('payload strings never resolve to Object.prototype members', () => {
  it.each(PROTOTYPE_NAMES)('a status %j is ignored, and the real messages and statuses beside it are kept', (name) => {
    // Given a delivery that batches a real message, a real status and a status with a prototype member's name
    const parsed = parseValue({
      contacts: [{ profile: { name: 'Ann' }, wa_id: '111' }],
      messages: [textMessage({ wamid: 'wamid.in', from: '111', body: 'hello' })],
      statuses: [
        { id: 'wamid.X', status: name, timestamp: '1700000000', recipient_id: '111' },
        { id: 'wamid.out', status: 'read', timestamp: '1700000001', recipient_id: '111' },
      ],
    });

    // Then the odd status is an ignored item and nothing else is lost
    expect(parsed.messages.map((m) => [m.wamid, m.text, m.contactName])).toEqual([['wamid.in', 'hello', 'Ann']]);
    expect(parsed.statuses.map((s) => [s.wamid, s.status])).toEqual([['wamid.out', 'read']]);
    expect(parsed.ignored).toEqual([
      {
        reason: 'unknown_status',
        field: 'messages',
        phoneNumberId: 'P1',
        detail: `entry[0].changes[0].value.statuses[0].status is the string ${JSON.stringify(name)}`,
      },
    ]);
    expect(parsed.overBudget).toBe(false);
  });

  it('only sent, delivered, read and failed are status values', () => {
    const values = ['sent', 'delivered', 'read', 'failed', 'deleted', 'SENT', 'read ', 'weird'];
    const parsed = parseValue({ statuses: values.map((status, i) => ({ id: `wamid.${i}`, status })) });
    expect(parsed.statuses.map((s) => s.status)).toEqual(['sent', 'delivered', 'read', 'failed']);
    expect(parsed.ignored.map((item) => item.reason)).toEqual(Array(4).fill('unknown_status'));
  });

  it('the same statuses arriving as JSON text (own __proto__ keys) are ignored too', () => {
    const parsed = parseJson(
      '{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{' +
        '"metadata":{"phone_number_id":"P1"},' +
        '"statuses":[{"id":"wamid.X","status":"__proto__","__proto__":{"status":"read"}},' +
        '{"__proto__":{"id":"wamid.Y"},"status":"read"},' +
        '{"id":"wamid.Z","status":"failed","errors":[{"__proto__":{"code":1},"title":"T"}]}]}}]}]}',
    );
    expect(parsed.statuses).toEqual([
      expect.objectContaining({ wamid: 'wamid.Z', status: 'failed', errorCode: null, errorTitle: 'T' }),
    ]);
    expect(parsed.ignored.map((item) => item.reason)).toEqual(['unknown_status', 'malformed']);
  });

  it.each(PROTOTYPE_NAMES)('a message type %j is kept as is and rendered from own properties only', (name) => {
    const parsed = parseValue({ messages: [{ from: '1', id: 'wamid.t', timestamp: '1700000000', type: name }] });
    expect(parsed.messages).toEqual([expect.objectContaining({ wamid: 'wamid.t', type: name, text: `[${name}]` })]);
    expect(parsed.ignored).toEqual([]);
  });

  it.each(PROTOTYPE_NAMES)('a field %j is another field', (name) => {
    const message = textMessage({ wamid: 'wamid.m', from: '1', body: 'x' });
    const body = delivery(entry([{ field: name, value: {} }, messagesChange('P1', { messages: [message] })], 'WABA'));
    const parsed = parseDelivery(body, { isConnected: connectedTo('P1') });
    expect(parsed.ignored).toEqual([{ reason: 'other_field', field: name }]);
    expect(parsed.messages.map((m) => m.wamid)).toEqual(['wamid.m']);
  });

  it('prototype names as interactive subtypes, senders, contact ids and phone number ids are plain strings', () => {
    const parsed = parseDelivery(
      delivery(entry([
        messagesChange('constructor', {
          contacts: [{ profile: { name: 'Odd' }, wa_id: 'toString' }],
          messages: [
            { from: 'toString', id: 'hasOwnProperty', type: 'interactive', interactive: { type: 'constructor' } },
            { from: 'toString', id: 'valueOf', type: 'interactive', interactive: { type: '__proto__' } },
            { from: 'toString', id: 'w3', type: 'text', text: { body: 'hi' }, context: { id: '__proto__' } },
          ],
        }),
      ], 'WABA')),
      { isConnected: connectedTo('constructor') },
    );
    expect(parsed.messages.map((m) => [m.wamid, m.phoneNumberId, m.from, m.contactName, m.text, m.replyTo])).toEqual([
      ['hasOwnProperty', 'constructor', 'toString', 'Odd', '[interactive] constructor', null],
      ['valueOf', 'constructor', 'toString', 'Odd', '[interactive] __proto__', null],
      ['w3', 'constructor', 'toString', 'Odd', 'hi', '__proto__'],
    ]);
  });

  it('own __proto__ keys anywhere in the JSON are data, never the prototype, and never throw', () => {
    const json =
      '{"object":"whatsapp_business_account","__proto__":{"entry":[]},"entry":[{"id":"W","__proto__":null,' +
      '"changes":[{"field":"messages","__proto__":{"field":"x"},"value":{"__proto__":{"statuses":[]},' +
      '"metadata":{"phone_number_id":"P1","__proto__":{"phone_number_id":"P2"}},' +
      '"contacts":[{"__proto__":{"wa_id":"1"},"profile":{"__proto__":{"name":"Eve"},"name":"Ann"},"wa_id":"1"}],' +
      '"messages":[{"id":"wamid.p","from":"1","type":"__proto__","__proto__":{"body":"x"}},' +
      '{"id":"wamid.q","from":"1","type":"interactive","interactive":{"type":"__proto__","__proto__":{"title":"T"}}},' +
      '{"id":"wamid.r","from":"1","type":"image","image":{"__proto__":{"id":"m1"},"caption":"c"}}],' +
      '"errors":[{"__proto__":{"code":2},"code":3,"title":"E"}]}}]}]}';
    let parsed: ParsedDelivery | undefined;
    expect(() => {
      parsed = parseJson(json);
    }).not.toThrow();
    expect(parsed?.messages.map((m) => [m.wamid, m.contactName, m.type, m.text, m.mediaId])).toEqual([
      ['wamid.p', 'Ann', '__proto__', '[__proto__]', null],
      ['wamid.q', 'Ann', 'interactive', '[interactive] __proto__', null],
      ['wamid.r', 'Ann', 'image', '[image] c', null],
    ]);
    expect(parsed?.errors).toEqual([expect.objectContaining({ phoneNumberId: 'P1', code: 3, title: 'E' })]);
    expect(parsed?.ignored).toEqual([]);
    expect(({} as Record<string, unknown>).body).toBeUndefined();
  });

  it('inherited properties (an object made with a prototype) are not read', () => {
    const message = Object.assign(Object.create({ id: 'wamid.inherited', type: 'text' }) as object, { from: '1' });
    const status = Object.assign(Object.create({ status: 'read' }) as object, { id: 'wamid.s' });
    const parsed = parseValue({ messages: [message], statuses: [status] });
    expect(parsed.messages).toEqual([]);
    expect(parsed.statuses).toEqual([]);
    expect(parsed.ignored.map((item) => item.detail)).toEqual([
      expect.stringContaining('messages[0] has no id'),
      expect.stringContaining('statuses[0] has no status'),
    ]);
  });
});

describe('ids are the same after a UTF-8 round trip (the database stores UTF-8)', () => {
  /** What comes back from a UTF-8 column. */
  const throughUtf8 = (value: string) => Buffer.from(value, 'utf8').toString('utf8');

  it('a wamid with a lone surrogate gives the same key from every delivery of it, and after storage', () => {
    // Given a delivery whose wamid holds a lone surrogate (Meta escapes it as \ud800 in the JSON text)
    const json =
      '{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{' +
      '"metadata":{"phone_number_id":"P1"},' +
      '"messages":[{"id":"wamid.\\ud800","from":"1","type":"text","text":{"body":"x"}}]}}]}]}';

    // When it is parsed twice (a redelivery)
    const first = parseJson(json).messages[0]?.wamid;
    const second = parseJson(json).messages[0]?.wamid;

    // Then the key is well-formed: unchanged by storage, equal across deliveries
    expect(first).toBe('wamid.\ufffd');
    expect(second).toBe(first);
    expect(throughUtf8(first!)).toBe(first);
  });

  it('status ids, senders, user ids, reply targets, media and phone number ids are made well-formed too', () => {
    const parsed = parseDelivery(
      delivery(entry([
        messagesChange('P\udc00', {
          contacts: [{ profile: { name: 'Ann' }, wa_id: '1\ud800', user_id: 'US.\udbff' }],
          messages: [
            {
              from: '1\ud800',
              id: 'wamid.a\udfff',
              type: 'image',
              image: { id: 'm\ud800' },
              context: { id: 'wamid.\ud800b' },
            },
          ],
          statuses: [{ id: 'wamid.s\ud800', status: 'read', recipient_id: '2\udc00' }],
        }),
      ], 'WABA')),
      { isConnected: connectedTo('P\ufffd') },
    );
    const keys = parsed.messages.map((m) => [m.wamid, m.phoneNumberId, m.from, m.userId, m.mediaId, m.replyTo]);
    expect(keys).toEqual([['wamid.a\ufffd', 'P\ufffd', '1\ufffd', 'US.\ufffd', 'm\ufffd', 'wamid.\ufffdb']]);
    expect(parsed.messages[0]?.contactName).toBe('Ann');
    expect(parsed.statuses.map((s) => [s.wamid, s.recipientId])).toEqual([['wamid.s\ufffd', '2\ufffd']]);
    // The message itself is kept exactly as received.
    expect(parsed.messages[0]?.raw.id).toBe('wamid.a\udfff');
  });

  it('well-formed ids (emoji, surrogate pairs, any script) are untouched', () => {
    const ids = ['wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=', 'wamid.😀', 'wamid.\ud83d\ude00', 'ñ中'];
    const parsed = parseValue({ messages: ids.map((id) => textMessage({ wamid: id, from: '1', body: 'x' })) });
    expect(parsed.messages.map((m) => m.wamid)).toEqual(ids);
  });

  it('toWellFormed does what String.prototype.toWellFormed does', () => {
    const native = (value: string) => (value as unknown as { toWellFormed(): string }).toWellFormed();
    const samples = [
      '',
      'abc',
      '\ud800',
      '\udc00',
      '\ud800\ud800\udc00',
      '\udc00\ud800',
      'a\ud83d\ude00b',
      '\ud83d\ude00\ude00',
      '\ud83d',
      'x\udbff\udfffy\udbff',
    ];
    for (const sample of samples) {
      expect(toWellFormed(sample)).toBe(native(sample));
      expect(throughUtf8(toWellFormed(sample))).toBe(toWellFormed(sample));
    }
  });
});

describe("Meta's value-level errors are all returned", () => {
  const fullError = {
    code: 131051,
    title: 'Message type unknown',
    message: 'Message type unknown',
    error_data: { details: 'Message type is currently not supported.' },
    href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
  };

  it('every error of a messages change, beside its messages and statuses, with everything needed to print it', () => {
    const parsed = parseValue({
      messages: [textMessage({ wamid: 'wamid.m', from: '1', body: 'hi' })],
      statuses: [{ id: 'wamid.s', status: 'sent' }],
      errors: [
        fullError,
        { code: 131056, title: 'Pair rate limit hit', message: 'Too many messages' },
        { details: 'old shape' },
      ],
    });
    expect(parsed.messages).toHaveLength(1);
    expect(parsed.statuses).toHaveLength(1);
    expect(parsed.errors).toEqual([
      {
        field: 'messages',
        phoneNumberId: 'P1',
        wabaId: 'WABA',
        code: 131051,
        title: 'Message type unknown',
        message: 'Message type unknown',
        details: 'Message type is currently not supported.',
        raw: fullError,
      },
      {
        field: 'messages',
        phoneNumberId: 'P1',
        wabaId: 'WABA',
        code: 131056,
        title: 'Pair rate limit hit',
        message: 'Too many messages',
        details: null,
        raw: { code: 131056, title: 'Pair rate limit hit', message: 'Too many messages' },
      },
      {
        field: 'messages',
        phoneNumberId: 'P1',
        wabaId: 'WABA',
        code: null,
        title: null,
        message: null,
        details: 'old shape',
        raw: { details: 'old shape' },
      },
    ]);
    expect(parsed.ignored).toEqual([]);
  });

  it('errors of another field are returned too (the change itself is still another field)', () => {
    const parsed = parseDelivery(
      delivery(entry([
        { field: 'flows', value: { metadata: { phone_number_id: 'P1' }, errors: [fullError] } },
        { field: 'security', value: { event: 'REJECTED', errors: [{ code: 2, title: 'T' }] } },
      ], 'WABA')),
      { isConnected: connectedTo('P1') },
    );
    expect(parsed.errors).toEqual([
      expect.objectContaining({ field: 'flows', phoneNumberId: 'P1', wabaId: 'WABA', code: 131051 }),
      expect.objectContaining({ field: 'security', phoneNumberId: null, code: 2, title: 'T' }),
    ]);
    expect(parsed.ignored).toEqual([
      { reason: 'other_field', field: 'flows' },
      { reason: 'other_field', field: 'security' },
    ]);
  });

  it('errors about a number lumen has not connected are not returned, whatever the field', () => {
    const parsed = parseDelivery(
      delivery(entry([
        messagesChange('P-OTHER', { errors: [fullError] }),
        { field: 'flows', value: { metadata: { phone_number_id: 'P-OTHER' }, errors: [fullError] } },
      ], 'WABA')),
      { isConnected: connectedTo('P1') },
    );
    expect(parsed.errors).toEqual([]);
    expect(parsed.ignored.map((item) => item.reason)).toEqual(['unknown_phone_number', 'other_field']);
  });

  it('an error that cannot be read is a malformed item, never silently dropped', () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) deep = { error_data: deep };
    const parsed = parseValue({ errors: ['oops', deep, { code: 1 }] });
    expect(parsed.errors).toEqual([expect.objectContaining({ code: 1 })]);
    expect(parsed.ignored.map((item) => item.detail)).toEqual([
      expect.stringContaining('errors[0] is the string "oops"'),
      expect.stringContaining('errors[1] is nested deeper than'),
    ]);

    const other = parseDelivery(delivery(entry([{ field: 'flows', value: { errors: 'x' } }], 'WABA')), anyNumber);
    expect(other.ignored).toEqual([
      { reason: 'other_field', field: 'flows' },
      {
        reason: 'malformed',
        field: 'flows',
        detail: 'entry[0].changes[0].value.errors is the string "x", not an array',
      },
    ]);
  });

  it("a failed status still carries Meta's first error, its details falling back to the message as before", () => {
    const parsed = parseValue({
      statuses: [
        {
          id: 'wamid.f',
          status: 'failed',
          errors: [{ code: 131047, title: 'Re-engagement message', message: 'More than 24 hours' }],
        },
      ],
    });
    expect(parsed.statuses).toEqual([
      expect.objectContaining({
        errorCode: 131047,
        errorTitle: 'Re-engagement message',
        errorDetails: 'More than 24 hours',
      }),
    ]);
  });
});
