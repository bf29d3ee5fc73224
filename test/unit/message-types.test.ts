import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { checkMediaFile, contactsFromVcard, freeFormBody, isUserId, type FreeFormInput, type Recipient } from '../../src/services/messages/message-types.js';
import { messageFromObject } from '../../src/services/messages/short-form.js';
import { repliesIn } from '../../src/relay/replies.js';

const phone: Recipient = { kind: 'phone', id: '15551234567' };
const user: Recipient = { kind: 'user_id', id: 'US.13491208655302741918' };
const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to: '15551234567' };

function refused(input: FreeFormInput): UserError {
  try {
    freeFormBody(phone, input);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).kind).toBe('usage');
    return error as UserError;
  }
  throw new Error('not refused');
}

describe('every outbound type: the exact body Meta expects', () => {
  it.each<[string, FreeFormInput, Record<string, unknown>]>([
    ['an image by link with a caption', { kind: 'media', type: 'image', source: { link: 'https://x.test/a.jpg' }, caption: 'Look' }, { type: 'image', image: { link: 'https://x.test/a.jpg', caption: 'Look' } }],
    ['a document by id with a file name', { kind: 'media', type: 'document', source: { id: '123456' }, filename: 'invoice.pdf' }, { type: 'document', document: { id: '123456', filename: 'invoice.pdf' } }],
    ['a sticker', { kind: 'media', type: 'sticker', source: { id: '99999' } }, { type: 'sticker', sticker: { id: '99999' } }],
    [
      'reply buttons with a header and footer',
      { kind: 'buttons', body: 'Pick one', buttons: [{ id: 'yes', title: 'Yes' }, { id: 'no', title: 'No' }], header: 'Order #1', footer: 'lumen' },
      {
        type: 'interactive',
        interactive: {
          type: 'button',
          header: { type: 'text', text: 'Order #1' },
          body: { text: 'Pick one' },
          footer: { text: 'lumen' },
          action: { buttons: [{ type: 'reply', reply: { id: 'yes', title: 'Yes' } }, { type: 'reply', reply: { id: 'no', title: 'No' } }] },
        },
      },
    ],
    [
      'a list',
      { kind: 'list', list: { body: 'Menu', button: 'See options', sections: [{ rows: [{ id: 'a', title: 'A', description: 'first' }] }] } },
      { type: 'interactive', interactive: { type: 'list', body: { text: 'Menu' }, action: { button: 'See options', sections: [{ rows: [{ id: 'a', title: 'A', description: 'first' }] }] } } },
    ],
    [
      'a call-to-action URL',
      { kind: 'cta_url', body: 'Track it', url: 'https://x.test/t', text: 'Track' },
      { type: 'interactive', interactive: { type: 'cta_url', body: { text: 'Track it' }, action: { name: 'cta_url', parameters: { display_text: 'Track', url: 'https://x.test/t' } } } },
    ],
    ['a location', { kind: 'location', latitude: 52.5, longitude: 13.4, name: 'Office' }, { type: 'location', location: { latitude: 52.5, longitude: 13.4, name: 'Office' } }],
    ['a reaction', { kind: 'reaction', messageId: 'wamid.A', emoji: '👍' }, { type: 'reaction', reaction: { message_id: 'wamid.A', emoji: '👍' } }],
    ['a reaction removed', { kind: 'reaction', messageId: 'wamid.A', emoji: '' }, { type: 'reaction', reaction: { message_id: 'wamid.A', emoji: '' } }],
    ['a raw Cloud API object', { kind: 'raw', body: { type: 'audio', audio: { id: '42' } } }, { type: 'audio', audio: { id: '42' } }],
  ])('%s', (_what, input, expected) => {
    expect(freeFormBody(phone, input).body).toEqual({ ...base, ...expected });
  });

  it('quotes the message it replies to, and addresses a user id as `recipient`', () => {
    const { body } = freeFormBody(user, { kind: 'location', latitude: 1, longitude: 2 }, 'wamid.Q');
    expect(body).toEqual({ messaging_product: 'whatsapp', recipient_type: 'individual', recipient: user.id, context: { message_id: 'wamid.Q' }, type: 'location', location: { latitude: 1, longitude: 2 } });
    expect(isUserId('US.13491208655302741918')).toBe(true);
    expect(isUserId('US.ENT.11815799212886844830')).toBe(true);
    expect(isUserId('15551234567')).toBe(false);
  });
});

describe('each limit is refused before Meta sees it, naming the limit', () => {
  it.each<[string, FreeFormInput, RegExp]>([
    ['a caption over 1,024 characters', { kind: 'media', type: 'image', source: { id: '123456' }, caption: 'x'.repeat(1025) }, /at most 1024/],
    ['a caption on audio', { kind: 'media', type: 'audio', source: { id: '123456' }, caption: 'x' }, /no caption/],
    ['four buttons', { kind: 'buttons', body: 'b', buttons: ['a', 'b', 'c', 'd'].map((id) => ({ id, title: id })) }, /1 to 3 reply buttons/],
    ['a button title over 20 characters', { kind: 'buttons', body: 'b', buttons: [{ id: 'a', title: 'x'.repeat(21) }] }, /at most 20/],
    ['two buttons with one id', { kind: 'buttons', body: 'b', buttons: [{ id: 'a', title: 'A' }, { id: 'a', title: 'B' }] }, /ids must differ/],
    ['an empty interactive body', { kind: 'buttons', body: ' ', buttons: [{ id: 'a', title: 'A' }] }, /empty/],
    ['a list of 11 rows', { kind: 'list', list: { body: 'b', button: 'Go', sections: [{ rows: Array.from({ length: 11 }, (_, i) => ({ id: `r${i}`, title: 'T' })) }] } }, /at most 10 rows/],
    ['a row title over 24 characters', { kind: 'list', list: { body: 'b', button: 'Go', sections: [{ rows: [{ id: 'r', title: 'x'.repeat(25) }] }] } }, /at most 24/],
    ['two sections without titles', { kind: 'list', list: { body: 'b', button: 'Go', sections: [{ rows: [{ id: 'a', title: 'A' }] }, { rows: [{ id: 'b', title: 'B' }] }] } }, /needs a "title"/],
    ['a CTA text over 20 characters', { kind: 'cta_url', body: 'b', url: 'https://x.test', text: 'x'.repeat(21) }, /at most 20/],
    ['a CTA that is not a URL', { kind: 'cta_url', body: 'b', url: 'nope', text: 'Go' }, /not a URL/],
    ['a latitude of 91', { kind: 'location', latitude: 91, longitude: 0 }, /latitude/],
    ['a contact without a name', { kind: 'contacts', contacts: [{ phones: [{ phone: '+1' }] }] }, /no name/],
    ['a reaction of two emoji', { kind: 'reaction', messageId: 'wamid.A', emoji: '👍👍' }, /one emoji/],
    ['a reaction to an id that is no wamid', { kind: 'reaction', messageId: 'null', emoji: '👍' }, /^--to-message must name the message by its wamid \(wamid\.…\); got "null"\.$/],
    ['a raw body naming its own recipient', { kind: 'raw', body: { type: 'text', text: { body: 'x' }, to: '1' } }, /must not name the recipient/],
  ])('%s', (_what, input, message) => {
    expect(refused(input).message).toMatch(message);
  });

  it('checks a local file against the type and size Meta takes', () => {
    expect(checkMediaFile('image', 'photo.jpg', 1000)).toBe('image/jpeg');
    expect(() => checkMediaFile('image', 'clip.mp4', 1000)).toThrow(/not a file WhatsApp takes as an image/);
    expect(() => checkMediaFile('image', 'big.png', 5_100_069)).toThrow(/^big\.png is 5\.1 MB; WhatsApp takes images of at most 5 MB\.$/);
    expect(() => checkMediaFile('sticker', 's.webp', 600_000)).toThrow(/at most 500 KB/);
    // As Meta counts (decimal units), not 1,024s: what Meta would refuse is refused before the upload
    expect(checkMediaFile('video', 'v.mp4', 16_000_000)).toBe('video/mp4');
    expect(() => checkMediaFile('video', 'v.mp4', 16_000_001)).toThrow(/at most 16,000,000 bytes/);
    expect(() => checkMediaFile('document', 'd.pdf', 100_000_001)).toThrow(/at most 100,000,000 bytes/);
  });
});

describe("the user's code answers", () => {
  it('with {"reply"} or {"messages"}; plain output is not a reply', () => {
    expect(repliesIn('{"reply":{"text":"hi"}}')).toEqual([{ text: 'hi' }]);
    expect(repliesIn('{"messages":[{"text":"a"},{"text":"b"}]}')).toHaveLength(2);
    expect(repliesIn('thanks!')).toBeUndefined();
    expect(repliesIn('{"ok":true}')).toBeUndefined();
  });

  it('in the short form or as a Cloud API object', () => {
    expect(messageFromObject({ text: 'hi' })).toEqual({ kind: 'text', text: 'hi', previewUrl: false, replyTo: undefined, spelledAs: 'fields' });
    expect(messageFromObject({ text: 'Pick', buttons: [{ id: 'y', title: 'Yes' }] })).toMatchObject({ kind: 'free_form', input: { kind: 'buttons', body: 'Pick' } });
    expect(messageFromObject({ image: 'https://x.test/a.png', caption: 'c' })).toMatchObject({ input: { kind: 'media', type: 'image', source: { link: 'https://x.test/a.png' } } });
    expect(messageFromObject({ type: 'sticker', sticker: { id: '1' } })).toMatchObject({ input: { kind: 'raw' } });
    // A Cloud API text with a callback payload keeps it (sent as is)
    expect(messageFromObject({ type: 'text', text: { body: 'x' }, biz_opaque_callback_data: 'order-7' })).toMatchObject({ input: { kind: 'raw', body: { biz_opaque_callback_data: 'order-7' } } });
    expect(() => messageFromObject({ nothing: true })).toThrow(/nothing to send/);
    expect(() => messageFromObject({ buttons: [{ id: 'y' }], text: 'x' })).toThrow(/"title" is required/);
    // The Cloud API's media object without its "type" means the same as the short form
    expect(messageFromObject({ image: { link: 'https://x.test/a.png', caption: 'c' } })).toMatchObject({
      input: { kind: 'media', type: 'image', source: { link: 'https://x.test/a.png' }, caption: 'c' },
    });
    expect(messageFromObject({ document: { id: '123456', filename: 'a.pdf' } })).toMatchObject({ input: { type: 'document', source: { id: '123456' }, filename: 'a.pdf' } });
    expect(() => messageFromObject({ image: { caption: 'c' } })).toThrow(/^the message: "image" must have a "link" or an "id" \(one of them\)\.$/);
    // A field of the wrong type says so
    expect(() => messageFromObject({ text: 42 })).toThrow(/^the message: "text" must be text \(a JSON string\); got a number\.$/);
    expect(() => messageFromObject({ text: '  ' })).toThrow(/^the message: "text" is empty\.$/);
    // Nothing given is dropped without a word: one kind of message each
    expect(() => messageFromObject({ text: 'a', image: 'https://x.test/y.png' })).toThrow(/^the message has "text" and "image": "text" goes only with "buttons" or "ctaUrl" \(the image's words are its "caption"\)\.$/);
    expect(() => messageFromObject({ text: 'a', contacts: [] })).toThrow(/has "text" and "contacts"/);
    expect(() => messageFromObject({ text: 'a', image: 'https://x.test/y.png', buttons: [{ id: 'y', title: 'Y' }] })).toThrow(/^the message has "image" and "buttons": one kind of message each/);
    // A field this kind of message does not take is refused, never left out of what is sent
    expect(() => messageFromObject({ text: 'hi', footer: 'F' })).toThrow(/^the message has "footer", which a text message does not take: nothing is sent with a part left out\.$/);
    // Named up to five, however many there are
    const many = Object.fromEntries(Array.from({ length: 150_000 }, (_, i) => [`k${i}`, 1]));
    expect(() => messageFromObject({ text: 'hi', ...many })).toThrow(/^the message has "k0" and "k1" and "k2" and "k3" and "k4" and 149995 more, which a text message/);
    expect(() => messageFromObject({ location: { latitude: 1, longitude: 2 }, caption: 'lost' })).toThrow(/has "caption", which a "location" message does not take/);
    expect(() => messageFromObject({ template: { name: 'hello_world' }, caption: 'x', footer: 'y' })).toThrow(/has "caption" and "footer", which a "template" message/);
    expect(() => messageFromObject({ image: 'https://e.test/a.png', header: 'H' })).toThrow(/has "header", which an image does not take/);
    expect(() => messageFromObject({ text: 'hi', filename: 'f' })).toThrow(/has "filename", which a text message/);
    expect(() => messageFromObject({ type: 'text', text: { body: 'x' }, image: 'https://e.test/a.png' })).toThrow(/has "image", which a Cloud API "text" message does not take/);
    expect(() => messageFromObject({ text: 'hi', to: '1555' })).toThrow(/has "to", which a text message/);
    expect(messageFromObject({ type: 'image', image: { id: '123456' }, context: { message_id: 'wamid.Q' }, biz_opaque_callback_data: 'k' })).toMatchObject({ input: { kind: 'raw' } });
    expect(messageFromObject({ document: 'https://e.test/a.pdf', caption: 'c', filename: 'a.pdf', replyTo: 'wamid.Q' })).toMatchObject({ replyTo: 'wamid.Q' });
    // null is not given (a bot's None); the envelope's constants are taken as they are; a caption given twice is refused
    expect(messageFromObject({ text: 'hi', footer: null, header: null })).toMatchObject({ kind: 'text', text: 'hi' });
    expect(messageFromObject({ messaging_product: 'whatsapp', image: { link: 'https://e.test/a.png' } })).toMatchObject({ input: { kind: 'media', type: 'image' } });
    expect(() => messageFromObject({ image: { link: 'https://e.test/a.png', caption: 'a' }, caption: 'b' })).toThrow(/has "caption" twice, in "image" and beside it/);
    // Inside the parts too, and a value of the wrong type is not read as false
    expect(() => messageFromObject({ react: '👍', toMessage: 'wamid.x', replyTo: 'wamid.y' })).toThrow(/has "toMessage" and "replyTo"/);
    expect(() => messageFromObject({ text: 'x https://a.test', previewUrl: 'true' })).toThrow(/"previewUrl" must be true or false/);
    expect(() => messageFromObject({ template: { name: 'order_update', extra: 1 } })).toThrow(/template has "extra", which a template does not take/);
    expect(messageFromObject({ template: { name: 'invoice', filename: 'f.pdf' } })).toMatchObject({ kind: 'template', headerFilename: 'f.pdf' });
    expect(() => messageFromObject({ text: 'Pick', buttons: [{ id: 'a', title: 'A', color: 'red' }] })).toThrow(/buttons\[0\] has "color", which a reply button/);
    expect(() => messageFromObject({ location: { latitude: 1, longitude: 2, zoom: 3 } })).toThrow(/location has "zoom"/);
    const list = (row: Record<string, unknown>) => freeFormBody({ kind: 'phone', id: '15551234567' }, { kind: 'list', list: { body: 'b', button: 'B', sections: [{ rows: [row] }] } });
    expect(() => list({ id: '1', title: 't', color: 'red' })).toThrow(/^Row 1 of list section 1 has "color", which it does not take/);
    expect(list({ id: '1', title: 't', description: 'd' }).type).toBe('interactive');
    // An empty coordinate is not 0
    expect(() => messageFromObject({ location: { latitude: '', longitude: '  ' } })).toThrow(/^the message: location: "latitude" must be a number\.$/);
    // A template quotes the message it answers, as the others do
    expect(messageFromObject({ template: { name: 'hello_world', language: 'en_US' }, replyTo: 'wamid.Q' })).toMatchObject({ kind: 'template', replyTo: 'wamid.Q' });
  });
});

describe('contact cards', () => {
  it('reads a vCard', () => {
    const vcard = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ana Diaz\r\nN:Diaz;Ana;;;\r\nTEL;TYPE=CELL:+15551234567\r\nEMAIL:ana@example.com\r\nORG:Lumen\r\nEND:VCARD\r\n';
    expect(contactsFromVcard(vcard)).toEqual([
      {
        name: { formatted_name: 'Ana Diaz', first_name: 'Ana', last_name: 'Diaz' },
        org: { company: 'Lumen' },
        phones: [{ phone: '+15551234567', type: 'CELL' }],
        emails: [{ email: 'ana@example.com' }],
      },
    ]);
  });
});
