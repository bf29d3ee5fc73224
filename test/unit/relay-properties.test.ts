/**
 * Properties of the two pure pieces every webhook goes through before anything is stored: the signature check
 * (signature.ts) and the payload parser (parse.ts). fast-check generates the inputs; a failure prints the smallest
 * input it could shrink to, and the seed to replay it.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_DELIVERY_ITEMS, parseDelivery } from '../../src/relay/parse.js';
import { escapeNonAscii, parseSignatureHeader, signBody, verifySignature } from '../../src/relay/signature.js';
import { delivery, entry, messagesChange, statusItem } from '../helpers/webhooks.js';

const RUNS = { numRuns: 300 };

// ---------------------------------------------------------------------------------------------------------------
// Signature

/** App secrets as Meta makes them (32 hex chars), and anything else a user could paste. */
const secretArb = fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }));
const bodyArb = fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes));

/** What a JSON document can hold, with every kind of UTF-16 string (emoji, lone surrogates, U+2028…). */
const jsonWithUnicode = fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' });

/**
 * Whether two secrets are the same HMAC-SHA256 key: HMAC pads short keys with zeros (and hashes long ones), so
 * "a" and "a\u0000" sign alike. Not a weakness of the check: Meta's app secrets are 32 hex characters.
 */
function sameHmacKey(a: string, b: string): boolean {
  const key = (s: string) => {
    const bytes = Buffer.from(s, 'utf8');
    return Buffer.concat([bytes.length > 64 ? createHash('sha256').update(bytes).digest() : bytes, Buffer.alloc(64)]).subarray(0, 64);
  };
  return key(a).equals(key(b));
}

/** The bytes Meta signs: compact JSON with every non-ASCII char escaped as \uXXXX. */
const metaBytes = (value: unknown) => Buffer.from(escapeNonAscii(JSON.stringify(value)), 'utf8');

describe('verifySignature (properties)', () => {
  it('accepts what signBody signed, for any body and secret', () => {
    fc.assert(
      fc.property(bodyArb, secretArb, (body, secret) => {
        const header = parseSignatureHeader(signBody(body, secret));
        expect(header).not.toBeNull();
        expect(verifySignature(body, header!, secret)).toBe(true);
      }),
      RUNS,
    );
  });

  it('refuses the body with any single byte changed', () => {
    const changed = bodyArb
      .filter((body) => body.length > 0)
      .chain((body) => fc.tuple(fc.constant(body), fc.nat({ max: body.length - 1 }), fc.integer({ min: 1, max: 255 })));
    fc.assert(
      fc.property(changed, secretArb, ([body, index, xor], secret) => {
        const header = parseSignatureHeader(signBody(body, secret))!;
        const tampered = Buffer.from(body);
        tampered[index] = tampered[index]! ^ xor;
        expect(verifySignature(tampered, header, secret)).toBe(false);
      }),
      RUNS,
    );
  });

  it('refuses a signature made with another secret', () => {
    fc.assert(
      fc.property(
        bodyArb,
        secretArb,
        secretArb.filter((s) => s !== ''),
        (body, secret, other) => {
          fc.pre(!sameHmacKey(secret, other));
          const header = parseSignatureHeader(signBody(body, other))!;
          expect(verifySignature(body, header, secret)).toBe(false);
        },
      ),
      RUNS,
    );
  });

  it('refuses a signature that is not the body’s (random 32 bytes)', () => {
    fc.assert(
      fc.property(bodyArb, secretArb, fc.uint8Array({ minLength: 32, maxLength: 32 }), (body, secret, random) => {
        const header = parseSignatureHeader(`sha256=${Buffer.from(random).toString('hex')}`)!;
        fc.pre(!header.equals(parseSignatureHeader(signBody(body, secret))!));
        expect(verifySignature(body, header, secret)).toBe(false);
      }),
      RUNS,
    );
  });

  it('parseSignatureHeader never throws, and returns 32 bytes or null', () => {
    const headerArb = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 120 }),
      fc.string({ maxLength: 80 }).map((s) => `sha256=${s}`),
      fc.stringMatching(/^\s*sha256=[0-9a-fA-F]{60,68}\s*$/),
      fc.array(fc.string({ maxLength: 80 }), { maxLength: 3 }),
      fc.constant(undefined),
    );
    fc.assert(
      fc.property(headerArb, (header) => {
        const parsed = parseSignatureHeader(header);
        expect(parsed === null || (Buffer.isBuffer(parsed) && parsed.length === 32)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts exactly the well-formed headers: sha256= and 64 hex digits (either case, surrounding spaces)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean(), fc.constantFrom('', ' ', '\t'), (bytes, upper, pad) => {
        const hex = Buffer.from(bytes).toString('hex');
        const parsed = parseSignatureHeader(`${pad}sha256=${upper ? hex.toUpperCase() : hex}${pad}`);
        expect(parsed?.equals(Buffer.from(bytes))).toBe(true);
        expect(parseSignatureHeader(`sha256=${hex.slice(1)}`)).toBeNull();
        expect(parseSignatureHeader(`sha256=${hex}0`)).toBeNull();
        expect(parseSignatureHeader(`sha1=${hex}`)).toBeNull();
      }),
      RUNS,
    );
  });

  it('accepts a body a proxy decoded and re-encoded as UTF-8 (Meta signed the \\u-escaped form)', () => {
    fc.assert(
      fc.property(jsonWithUnicode, secretArb, (value, secret) => {
        const signed = metaBytes(value);
        const header = parseSignatureHeader(signBody(signed, secret))!;
        // The proxy parses Meta's bytes and serialises them again: non-ASCII now raw UTF-8.
        const reencoded = Buffer.from(JSON.stringify(JSON.parse(signed.toString('utf8'))), 'utf8');
        expect(verifySignature(reencoded, header, secret)).toBe(true);
      }),
      RUNS,
    );
  });

  it('refuses a re-encoded body whose text differs from what Meta signed', () => {
    fc.assert(
      fc.property(jsonWithUnicode, jsonWithUnicode, secretArb, (value, other, secret) => {
        fc.pre(JSON.stringify(value) !== JSON.stringify(other));
        const header = parseSignatureHeader(signBody(metaBytes(value), secret))!;
        expect(verifySignature(Buffer.from(JSON.stringify(other), 'utf8'), header, secret)).toBe(false);
        expect(verifySignature(metaBytes(other), header, secret)).toBe(false);
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Parser: any input

/** ISO 8601 as `Date#toISOString` writes it for years 0000-9999: sortable as text, like every other stored time. */
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Array elements anywhere in a value: each message or status the parser returns comes from a distinct one. */
function arrayItems(value: unknown, seen = new Set<unknown>()): number {
  if (typeof value !== 'object' || value === null || seen.has(value)) return 0;
  seen.add(value);
  let count = Array.isArray(value) ? value.length : 0;
  for (const child of Object.values(value)) count += arrayItems(child, seen);
  return count;
}

const MESSAGE_TYPES = [
  'text', 'image', 'audio', 'video', 'document', 'sticker', 'location', 'contacts', 'interactive', 'button',
  'reaction', 'order', 'system', 'unsupported', 'request_welcome', 'unknown', 'brand_new_type',
];

/** A Meta-shaped delivery in which any node may be replaced by an arbitrary JSON value (or left out). */
const almostMeta = (() => {
  const junk = fc.jsonValue({ maxDepth: 3 });
  // Mostly the right shape, sometimes junk (or, via optional keys, missing): deep enough to reach every branch.
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 12, arbitrary: arb }, { weight: 1, arbitrary: junk });
  // Ids with lone surrogates must lose them before they are used as keys.
  const idArb = maybe(
    fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('wamid.A', 'wamid.B', '', 'wamid.\ud800', '\udc00x'), fc.integer()),
  );
  const timestampArb = maybe(
    fc.oneof(fc.constantFrom('1700000000', '0', '-1', '999999999999', '99999999999999', '1e9', ' 17 '), fc.integer(), fc.double()),
  );
  const message = maybe(
    fc.record(
      {
        id: idArb,
        from: maybe(fc.oneof(fc.constantFrom('15551230001', ''), fc.string({ maxLength: 8 }))),
        from_user_id: maybe(fc.string({ maxLength: 8 })),
        timestamp: timestampArb,
        type: maybe(fc.constantFrom(...MESSAGE_TYPES)),
        text: maybe(fc.record({ body: maybe(fc.string({ unit: 'binary', maxLength: 20 })) })),
        image: maybe(fc.record({ id: idArb, caption: maybe(fc.string()) }, { requiredKeys: [] })),
        reaction: maybe(fc.record({ emoji: maybe(fc.string({ unit: 'grapheme', maxLength: 2 })), message_id: idArb }, { requiredKeys: [] })),
        interactive: maybe(fc.record({ type: maybe(fc.constantFrom('button_reply', 'list_reply', 'nfm_reply', 'x')) }, { requiredKeys: [] })),
        contacts: maybe(fc.array(junk, { maxLength: 2 })),
        context: maybe(fc.record({ id: idArb }, { requiredKeys: [] })),
        errors: maybe(fc.array(fc.record({ code: maybe(fc.integer()), title: maybe(fc.string()) }, { requiredKeys: [] }), { maxLength: 2 })),
      },
      { requiredKeys: ['id', 'from', 'timestamp', 'type'] },
    ),
  );
  const status = maybe(
    fc.record(
      {
        id: idArb,
        // Mostly Meta's values; sometimes one lumen does not know, including Object.prototype's names.
        status: maybe(
          fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom('sent', 'delivered', 'read', 'failed') },
            { weight: 1, arbitrary: fc.constantFrom('', 'weird', 'constructor', '__proto__', 'toString', 'hasOwnProperty') },
          ),
        ),
        timestamp: timestampArb,
        recipient_id: maybe(fc.string({ maxLength: 8 })),
        errors: maybe(fc.array(junk, { maxLength: 2 })),
      },
      { requiredKeys: ['id', 'status'] },
    ),
  );
  const value = maybe(
    fc.record(
      {
        messaging_product: maybe(fc.constant('whatsapp')),
        metadata: maybe(fc.record({ phone_number_id: maybe(fc.constantFrom('P1', 'P1', 'P2', 'OTHER', '')) })),
        contacts: maybe(fc.array(maybe(fc.record({ wa_id: maybe(fc.string({ maxLength: 8 })), profile: junk }, { requiredKeys: [] })), { maxLength: 3 })),
        messages: maybe(fc.array(message, { maxLength: 4 })),
        statuses: maybe(fc.array(status, { maxLength: 4 })),
        errors: maybe(fc.array(junk, { maxLength: 2 })),
      },
      { requiredKeys: ['metadata'] },
    ),
  );
  const change = maybe(fc.record({ field: maybe(fc.constantFrom('messages', 'messages', 'flows')), value }));
  const entry = maybe(fc.record({ id: maybe(fc.string({ maxLength: 6 })), changes: maybe(fc.array(change, { maxLength: 3 })) }, { requiredKeys: ['changes'] }));
  return fc.record(
    { object: maybe(fc.constant('whatsapp_business_account')), entry: maybe(fc.array(entry, { maxLength: 3 })) },
  );
})();

const anyDelivery = fc.oneof(
  { weight: 3, arbitrary: almostMeta },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 5 }) },
  { weight: 1, arbitrary: fc.anything({ withNullPrototype: true, withObjectString: true, withMap: true, withSet: true, withBoxedValues: true }) },
);

describe('parseDelivery (properties over any input)', () => {
  it('never throws, returns arrays, and every message and status is well-formed', () => {
    let messages = 0;
    let statuses = 0;
    fc.assert(
      fc.property(anyDelivery, fc.constantFrom(['P1'], ['P1', 'P2'], ['P2', 'P1'], [] as string[]), (body, connected) => {
        const parsed = parseDelivery(body, { isConnected: (id) => connected.includes(id) });
        for (const list of [parsed.messages, parsed.statuses, parsed.errors, parsed.ignored]) expect(Array.isArray(list)).toBe(true);
        expect(typeof parsed.overBudget).toBe('boolean');
        // Every key survives a UTF-8 round trip unchanged (the database stores UTF-8).
        const keys = [...parsed.messages.flatMap((m) => [m.wamid, m.from, m.userId, m.replyTo]), ...parsed.statuses.map((s) => s.wamid)];
        for (const key of keys) if (key !== null) expect(Buffer.from(key, 'utf8').toString('utf8')).toBe(key);

        for (const m of parsed.messages) {
          for (const field of [m.wamid, m.from, m.type]) expect(typeof field === 'string' && field.length > 0).toBe(true);
          expect(typeof m.text).toBe('string');
          // Empty only when it is a text message whose body was sent empty ("kept as sent").
          if (m.text === '') expect((m.raw.text as { body?: unknown } | undefined)?.body).toBe('');
          expect(m.timestamp).toMatch(ISO);
          expect(new Date(m.timestamp).toISOString()).toBe(m.timestamp);
          expect(connected).toContain(m.phoneNumberId);
          expect(['phone', 'user_id']).toContain(m.fromKind);
        }
        for (const s of parsed.statuses) {
          expect(typeof s.wamid === 'string' && s.wamid.length > 0).toBe(true);
          expect(['sent', 'delivered', 'read', 'failed']).toContain(s.status);
          expect(s.timestamp).toMatch(ISO);
          expect(connected).toContain(s.phoneNumberId);
        }
        expect(parsed.messages.length + parsed.statuses.length).toBeLessThanOrEqual(arrayItems(body));
        messages += parsed.messages.length;
        statuses += parsed.statuses.length;
      }),
      { numRuns: 3000 },
    );
    // The generator reaches the parser's deep paths, not only its early refusals.
    expect(messages).toBeGreaterThan(200);
    expect(statuses).toBeGreaterThan(200);
  });

  it('gives a 4-digit-year ISO timestamp even for a timestamp past year 9999 (found by the property above)', () => {
    const body = {
      object: 'whatsapp_business_account',
      entry: [{ changes: [{ field: 'messages', value: { metadata: { phone_number_id: 'P1' }, messages: [{ id: 'w', from: '1', timestamp: '999999999999', type: 'text', text: { body: 'hi' } }], statuses: [{ id: 'w2', status: 'read', timestamp: 253402300800 }] } }] }],
    };
    const parsed = parseDelivery(body, { isConnected: () => true });
    expect(parsed.messages[0]?.timestamp).toMatch(ISO);
    expect(parsed.statuses[0]?.timestamp).toMatch(ISO);
  });

  it('never throws on hostile shapes: __proto__ keys, inherited properties, sparse and over-budget arrays', () => {
    const hostile: unknown[] = [
      JSON.parse('{"__proto__":{"object":"whatsapp_business_account"},"entry":[]}'),
      JSON.parse('{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"__proto__":{"messages":[1]},"metadata":{"phone_number_id":"P1"}}}]}]}'),
      { object: 'whatsapp_business_account', entry: new Array(50) }, // sparse
      { object: 'whatsapp_business_account', entry: Array.from({ length: MAX_DELIVERY_ITEMS * 3 }, () => ({ changes: [] })) },
      Object.create({ object: 'whatsapp_business_account', entry: [] }),
    ];
    for (const body of hostile) {
      const parsed = parseDelivery(body, { isConnected: () => true });
      expect(parsed.messages).toEqual([]);
      expect(parsed.statuses).toEqual([]);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Parser: Meta-shaped deliveries

interface GenMessage {
  wamid: string;
  from: string;
  type: string;
  body: Record<string, unknown>;
  timestamp: number;
}
interface GenStatus {
  wamid: string;
  status: string;
  recipient: string;
  timestamp: number;
}
interface GenChange {
  field: string;
  phoneNumberId: string;
  messages: GenMessage[];
  statuses: GenStatus[];
}

const digits = fc.stringMatching(/^[1-9]\d{7,13}$/);
const wamidArb = fc.stringMatching(/^[A-Za-z0-9+/=_.-]{1,40}$/).map((s) => `wamid.${s}`);
const timestampSeconds = fc.integer({ min: 1_230_768_000, max: 4_102_444_800 }); // 2009 (before it, impossible) to 2100
const payloadFor: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  text: fc.record({ text: fc.record({ body: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }) }) }),
  image: fc.record({ image: fc.record({ id: digits, mime_type: fc.constant('image/jpeg'), caption: fc.string({ maxLength: 20 }) }) }),
  location: fc.record({ location: fc.record({ latitude: fc.double({ min: -90, max: 90, noNaN: true }), longitude: fc.double({ min: -180, max: 180, noNaN: true }) }) }),
  reaction: fc.record({ reaction: fc.record({ emoji: fc.constantFrom('👍', '😮', '❤️'), message_id: wamidArb }) }),
  button: fc.record({ button: fc.record({ text: fc.string({ minLength: 1, maxLength: 10 }), payload: fc.string({ minLength: 1, maxLength: 10 }) }) }),
  interactive: fc.record({
    interactive: fc.record({ type: fc.constant('button_reply'), button_reply: fc.record({ id: fc.string({ minLength: 1 }), title: fc.string({ minLength: 1 }) }) }),
  }),
  unsupported: fc.constant({ errors: [{ code: 131051, title: 'Message type unknown' }] }),
};
const genMessage: fc.Arbitrary<GenMessage> = fc
  .constantFrom(...Object.keys(payloadFor))
  .chain((type) => fc.record({ wamid: wamidArb, from: digits, type: fc.constant(type), body: payloadFor[type]!, timestamp: timestampSeconds }));
const genStatus: fc.Arbitrary<GenStatus> = fc.record({
  wamid: wamidArb,
  status: fc.constantFrom('sent', 'delivered', 'read', 'failed'),
  recipient: digits,
  timestamp: timestampSeconds,
});
const genChange: fc.Arbitrary<GenChange> = fc.record({
  field: fc.constantFrom('messages', 'messages', 'messages', 'flows', 'security'),
  phoneNumberId: fc.constantFrom('P1', 'P2', 'NOT_CONNECTED'),
  messages: fc.array(genMessage, { maxLength: 4 }),
  statuses: fc.array(genStatus, { maxLength: 4 }),
});
const genDelivery = fc.array(fc.array(genChange, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 });

function toMetaJson(entries: GenChange[][]): unknown {
  return delivery(
    ...entries.map((changes, e) =>
      entry(
        changes.map((c) => {
          const value: Record<string, unknown> = {};
          if (c.messages.length > 0) {
            value.contacts = c.messages.map((m) => ({ profile: { name: `N${m.from}` }, wa_id: m.from }));
            value.messages = c.messages.map((m) => ({ from: m.from, id: m.wamid, timestamp: String(m.timestamp), type: m.type, ...m.body }));
          }
          if (c.statuses.length > 0 || c.messages.length === 0) value.statuses = c.statuses.map(statusItem);
          return { ...messagesChange(c.phoneNumberId, value), field: c.field };
        }),
        `WABA${e}`,
      ),
    ),
  );
}

describe('parseDelivery (Meta-shaped deliveries)', () => {
  it('returns exactly the messages and statuses of the connected numbers, in order, through a JSON round trip', () => {
    fc.assert(
      fc.property(genDelivery, (entries) => {
        const connected = ['P1', 'P2'];
        // What is sent is bytes: serialise the way Meta does (non-ASCII escaped), parse as the relay does.
        const body = JSON.parse(escapeNonAscii(JSON.stringify(toMetaJson(entries))));
        const parsed = parseDelivery(body, { isConnected: (id) => connected.includes(id) });

        const counted = entries.flat().filter((c) => c.field === 'messages' && connected.includes(c.phoneNumberId));
        const wantMessages = counted.flatMap((c) =>
          c.messages.map((m) => ({ wamid: m.wamid, from: m.from, type: m.type, phoneNumberId: c.phoneNumberId, contactName: `N${m.from}`, timestamp: new Date(m.timestamp * 1000).toISOString() })),
        );
        const wantStatuses = counted.flatMap((c) =>
          c.statuses.map((s) => ({ wamid: s.wamid, status: s.status, recipientId: s.recipient, phoneNumberId: c.phoneNumberId, timestamp: new Date(s.timestamp * 1000).toISOString() })),
        );
        expect(parsed.messages.map(({ wamid, from, type, phoneNumberId, contactName, timestamp }) => ({ wamid, from, type, phoneNumberId, contactName, timestamp }))).toEqual(wantMessages);
        expect(parsed.statuses.map(({ wamid, status, recipientId, phoneNumberId, timestamp }) => ({ wamid, status, recipientId, phoneNumberId, timestamp }))).toEqual(wantStatuses);
        for (const m of parsed.messages) {
          if (m.type === 'text') expect(m.text).toBe((m.raw.text as { body: string }).body);
          else expect(m.text.startsWith('[')).toBe(true);
        }
        // Nothing from a number that is not connected, or from another field, is returned; each is reported once.
        const skipped = entries.flat().filter((c) => c.field !== 'messages' || !connected.includes(c.phoneNumberId));
        expect(parsed.ignored.filter((i) => i.reason === 'other_field' || i.reason === 'unknown_phone_number')).toHaveLength(skipped.length);
        expect(parsed.ignored.filter((i) => i.reason === 'malformed')).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });
});
