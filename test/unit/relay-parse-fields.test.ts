/** parse.ts's handler per webhook field: what each field's sample becomes (pure; no I/O). */
import { describe, expect, it } from 'vitest';
import { parseDelivery } from '../../src/relay/parse.js';
import { FIELD_EVENTS, fieldEventPayload } from '../../src/sandbox/field-events.js';

const NUMBER = { wabaId: 'WABA1', phoneNumberId: 'P1', displayPhoneNumber: '15550104242' };
const connected = { isConnected: (id: string) => id === 'P1' };
const parse = (payload: unknown, options = connected) => parseDelivery(JSON.parse(JSON.stringify(payload)), options);

describe('statuses', () => {
  it("carry Meta's pricing; an unknown category is kept; no conversation object is needed", () => {
    const payload = {
      object: 'whatsapp_business_account',
      entry: [{ id: 'WABA1', changes: [{ field: 'messages', value: { metadata: { phone_number_id: 'P1' }, statuses: [
        { id: 'wamid.a', status: 'delivered', timestamp: '1700000000', recipient_id: '1', pricing: { billable: true, pricing_model: 'PMP', category: 'Marketing_Lite', type: 'regular' } },
        { id: 'wamid.b', status: 'read', timestamp: '1700000000', recipient_id: '1' },
      ] } }] }],
    };
    const parsed = parse(payload);
    expect(parsed.statuses.map((s) => s.pricing)).toEqual([{ model: 'PMP', category: 'marketing_lite', type: 'regular', billable: true }, null]);
  });
});

describe('templates', () => {
  it('status, category, quality and components each become a template change', () => {
    const changes = (['template', 'template-category', 'template-quality', 'template-components'] as const).flatMap(
      (what) => parse(fieldEventPayload(NUMBER, { what, template: 'welcome', language: 'en_US', event: 'DISABLED', category: 'UTILITY', quality: 'RED', text: 'Hi' })).changes,
    );
    expect(changes).toEqual([
      expect.objectContaining({ kind: 'template', name: 'welcome', language: 'en_US', status: 'DISABLED', reason: 'FIRST_DISABLED' }),
      expect.objectContaining({ kind: 'template', category: 'UTILITY', previousCategory: 'UTILITY', status: null }),
      expect.objectContaining({ kind: 'template', quality: 'RED', status: null }),
      expect.objectContaining({ kind: 'template', components: { element: 'Hi' }, status: null }),
    ]);
  });

  it("carry the entry's time, when Meta gave one, as when they happened", () => {
    const payload = fieldEventPayload(NUMBER, { what: 'template', template: 'welcome' }) as any;
    payload.entry[0].time = 1751247548;
    expect(parse(payload).changes[0]).toMatchObject({ kind: 'template', eventAt: '2025-06-30T01:39:08.000Z' });
    delete payload.entry[0].time;
    expect(parse(payload).changes[0]).toMatchObject({ kind: 'template', eventAt: null });
    const account = fieldEventPayload(NUMBER, { what: 'account', restriction: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION' }) as any;
    account.entry[0].time = '1751247548';
    expect(parse(account).changes[0]).toMatchObject({ kind: 'account', eventAt: '2025-06-30T01:39:08.000Z' });
  });

  it("about a WABA lumen does not know are ignored; their errors[] are still returned", () => {
    const payload = fieldEventPayload(NUMBER, { what: 'template', template: 'welcome' }) as any;
    payload.entry[0].changes[0].value.errors = [{ code: 2, title: 'T' }];
    const parsed = parse(payload, { ...connected, isKnownWaba: (id: string) => id === 'OTHER' } as any);
    expect(parsed.changes).toEqual([]);
    expect(parsed.ignored).toEqual([{ reason: 'unknown_account', field: 'message_template_status_update', detail: 'WABA WABA1' }]);
    expect(parsed.errors).toEqual([expect.objectContaining({ code: 2, field: 'message_template_status_update' })]);
  });

  it('naming no template is malformed, never thrown', () => {
    const parsed = parse({ object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'message_template_quality_update', value: { new_quality_score: 'RED' } }] }] });
    expect(parsed.changes).toEqual([]);
    expect(parsed.ignored[0]).toMatchObject({ reason: 'malformed', field: 'message_template_quality_update' });
  });
});

describe('account fields', () => {
  it('account_update, phone_number_quality_update and business_capability_update become account changes', () => {
    const [restricted] = parse(fieldEventPayload(NUMBER, { what: 'account', restriction: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION' })).changes;
    expect(restricted).toMatchObject({ kind: 'account', event: 'ACCOUNT_RESTRICTION', restriction: expect.stringMatching(/^RESTRICTED_ADD_PHONE_NUMBER_ACTION until /), phoneNumber: '15550104242' });
    const [coexistence] = parse(fieldEventPayload(NUMBER, { what: 'account', coexistence: true })).changes;
    expect(coexistence).toMatchObject({ kind: 'account', coexistence: true });
    const [quality] = parse(fieldEventPayload(NUMBER, { what: 'quality', event: 'FLAGGED', limit: 'TIER_1K' })).changes;
    expect(quality).toMatchObject({ kind: 'account', field: 'phone_number_quality_update', qualityRating: 'RED', messagingLimit: 'TIER_1K' });
    const [capability] = parse(fieldEventPayload(NUMBER, { what: 'capability', limit: '250' })).changes;
    expect(capability).toMatchObject({ kind: 'account', messagingLimit: '250' });
  });
});

describe('per-number fields', () => {
  it('user_preferences, smb_message_echoes, edits and revokes; edits and revokes are not new messages', () => {
    const kinds = (['preferences', 'echo', 'edit', 'revoke'] as const).map((what) => {
      const parsed = parse(fieldEventPayload(NUMBER, { what, user: '15551234567', wamid: 'wamid.X', text: 'new', value: 'stop' }));
      expect(parsed.messages).toEqual([]);
      expect(parsed.ignored).toEqual([]);
      return parsed.changes[0];
    });
    expect(kinds).toEqual([
      expect.objectContaining({ kind: 'preference', contact: '15551234567', category: 'marketing_messages', value: 'stop', phoneNumberId: 'P1' }),
      expect.objectContaining({ kind: 'echo', wamid: 'wamid.X', to: '15551234567', type: 'text', text: 'new' }),
      expect.objectContaining({ kind: 'edit', originalWamid: 'wamid.X', text: 'new' }),
      expect.objectContaining({ kind: 'revoke', originalWamid: 'wamid.X', text: null }),
    ]);
  });

  it('for a number lumen has not connected are one unknown_phone_number item', () => {
    const parsed = parse(fieldEventPayload({ ...NUMBER, phoneNumberId: 'P9' }, { what: 'echo', user: '15551234567' }));
    expect(parsed.changes).toEqual([]);
    expect(parsed.ignored).toEqual([{ reason: 'unknown_phone_number', field: 'smb_message_echoes', phoneNumberId: 'P9' }]);
  });

  it('an edit naming no original message is malformed', () => {
    const payload = fieldEventPayload(NUMBER, { what: 'edit', user: '1555', wamid: 'wamid.X' }) as any;
    delete payload.entry[0].changes[0].value.messages[0].edit.original_message_id;
    const parsed = parse(payload);
    expect(parsed.changes).toEqual([]);
    expect(parsed.ignored[0]).toMatchObject({ reason: 'malformed', detail: expect.stringContaining('original_message_id') });
  });
});

describe('every field', () => {
  it('takes an item nested far too deep as malformed (or leaves the junk out): what it returns can be stored', () => {
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    for (const what of FIELD_EVENTS) {
      const payload = JSON.parse(JSON.stringify(fieldEventPayload(NUMBER, { what, user: '15551234567', wamid: 'wamid.X', text: 'new', value: 'stop', template: 'welcome', language: 'en_US', event: 'DISABLED', category: 'UTILITY', quality: 'RED' })));
      const value = payload.entry[0].changes[0].value;
      // In each item of each list the field carries, or in the value itself
      const lists = Object.values(value).filter(Array.isArray) as Array<Array<Record<string, unknown>>>;
      if (lists.length === 0) value.deep = deep;
      for (const list of lists) for (const item of list) if (typeof item === 'object' && item !== null) item.deep = deep;
      const parsed = parseDelivery(payload, connected);
      expect(() => JSON.stringify(parsed), what).not.toThrow();
    }
  });
});
