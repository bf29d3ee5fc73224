/**
 * `lumen send` for every free-form type (media, buttons, lists, call-to-action, location, contact cards, reactions,
 * a raw Cloud API object), `lumen media list|get` and `lumen messages read`, end to end: the built CLI under a temp
 * LUMEN_HOME, the sandbox as the Graph API over HTTP (and, for inbound media, as Meta's webhook sender to a running
 * relay). Assertions are what a user checks: the exit code, the one-line error, the `--json` document, the exact
 * request body Meta (the sandbox) received, and what it holds of uploads and read receipts.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/index.js';
import { SAFETY_NET_MS } from '../helpers/async.js';
import { BIN } from '../helpers/cli.js';
import { withDb } from '../helpers/home.js';
import { killAllRelays, startRelay, type RunningRelay } from '../helpers/relay.js';
import { acceptedSends, connectedHome, type ConnectedHome } from '../helpers/send.js';

const TO = '+15551234567';
const DIGITS = '15551234567';
const USER_ID = 'US.13491208655302741918';
const QUOTED = 'wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQz';
const HOUR = 60 * 60 * 1000;
/** A few bytes that start like a PNG: the sandbox, like Meta, goes by the declared type. */
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from(' a tiny receipt')]);

/** A template with a DOCUMENT header and no other parameter (added to the sandbox, then synced). */
const INVOICE_TEMPLATE = {
  id: '1873104929951190',
  name: 'invoice_ready',
  language: 'en_US',
  status: 'APPROVED' as const,
  category: 'UTILITY' as const,
  parameter_format: 'POSITIONAL' as const,
  components: [
    { type: 'HEADER' as const, format: 'DOCUMENT' as const, example: { header_handle: ['https://x.example/sample.pdf'] } },
    { type: 'BODY' as const, text: 'Your invoice is ready.' },
  ],
};

/** The envelope every body to the test's contact has. */
function toContact(rest: Record<string, unknown>, to: Record<string, string> = { to: DIGITS }) {
  return { messaging_product: 'whatsapp', recipient_type: 'individual', ...to, ...rest };
}

let sandbox: SandboxHandle;
let home: ConnectedHome;

beforeAll(async () => {
  sandbox = await startSandbox();
  sandbox.addTemplates([INVOICE_TEMPLATE]);
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(() => sandbox.reset());

/** One connected home for a block whose tests only add messages (the contact wrote an hour ago). */
function sharedHome() {
  beforeAll(async () => {
    home = await connectedHome(sandbox);
    home.contactWrote(TO, new Date(Date.now() - HOUR));
  });
  afterAll(() => home.cleanup());
}

/** A file in the home, for the flags that read one. */
function file(name: string, content: string | Buffer): string {
  const path = home.path(name);
  writeFileSync(path, content);
  return path;
}

/** The one body the sandbox accepted. */
function onlySentBody(): unknown {
  const sent = sandbox.sent();
  expect(sent.map((s) => s.outcome.result)).toEqual(['accepted']);
  return sent[0]!.body;
}

/** The built CLI in a folder of the test's choosing, stdout as bytes (for `media get`). */
function lumenIn(cwd: string, args: string[]) {
  return execa('node', [BIN, ...args], { env: home.env, extendEnv: false, reject: false, cwd, encoding: 'buffer', timeout: SAFETY_NET_MS });
}

describe('lumen send: each type, the exact body Meta receives', () => {
  sharedHome();

  it.each<[string, () => string[], Record<string, unknown>]>([
    [
      'an image by link, with a caption, quoting a message',
      () => ['--image', 'https://x.example/a.png', '--caption', 'Your receipt', '--reply-to', QUOTED],
      { context: { message_id: QUOTED }, type: 'image', image: { link: 'https://x.example/a.png', caption: 'Your receipt' } },
    ],
    [
      'a document by link with its file name',
      () => ['--document', 'https://x.example/files/i7.pdf', '--filename', 'Invoice 7.pdf', '--caption', 'Invoice'],
      { type: 'document', document: { link: 'https://x.example/files/i7.pdf', caption: 'Invoice', filename: 'Invoice 7.pdf' } },
    ],
    ['a video by link', () => ['--video', 'https://x.example/v.mp4'], { type: 'video', video: { link: 'https://x.example/v.mp4' } }],
    ['an audio by link', () => ['--audio', 'https://x.example/a.ogg'], { type: 'audio', audio: { link: 'https://x.example/a.ogg' } }],
    ['a sticker by link', () => ['--sticker', 'https://x.example/s.webp'], { type: 'sticker', sticker: { link: 'https://x.example/s.webp' } }],
    [
      'reply buttons with a header and a footer',
      () => ['--text', 'Keep the picture?', '--button', 'keep=Keep it', '--button', 'delete=Delete', '--header', 'Your photo', '--footer', 'Lumen'],
      {
        type: 'interactive',
        interactive: {
          type: 'button',
          header: { type: 'text', text: 'Your photo' },
          body: { text: 'Keep the picture?' },
          footer: { text: 'Lumen' },
          action: {
            buttons: [
              { type: 'reply', reply: { id: 'keep', title: 'Keep it' } },
              { type: 'reply', reply: { id: 'delete', title: 'Delete' } },
            ],
          },
        },
      },
    ],
    [
      'a list from a file, its header given by --header',
      () => [
        '--list',
        file(
          'times.json',
          JSON.stringify({
            body: 'Pick a time',
            button: 'Times',
            sections: [{ title: 'Today', rows: [{ id: 't1', title: '10:00', description: 'Morning' }, { id: 't2', title: '15:00' }] }],
          }),
        ),
        '--header',
        'Booking',
      ],
      {
        type: 'interactive',
        interactive: {
          type: 'list',
          header: { type: 'text', text: 'Booking' },
          body: { text: 'Pick a time' },
          action: {
            button: 'Times',
            sections: [{ title: 'Today', rows: [{ id: 't1', title: '10:00', description: 'Morning' }, { id: 't2', title: '15:00' }] }],
          },
        },
      },
    ],
    [
      'a call-to-action URL button',
      () => ['--text', 'Track your order', '--cta-url', 'https://x.example/o/1', '--cta-text', 'Track', '--footer', 'Lumen'],
      {
        type: 'interactive',
        interactive: {
          type: 'cta_url',
          body: { text: 'Track your order' },
          footer: { text: 'Lumen' },
          action: { name: 'cta_url', parameters: { display_text: 'Track', url: 'https://x.example/o/1' } },
        },
      },
    ],
    [
      'a location with a name and an address (a negative latitude is a value, not a flag)',
      () => ['--location', '-33.8568,151.2153', '--name', 'Opera House', '--address', 'Bennelong Point, Sydney', '--reply-to', QUOTED],
      {
        context: { message_id: QUOTED },
        type: 'location',
        location: { latitude: -33.8568, longitude: 151.2153, name: 'Opera House', address: 'Bennelong Point, Sydney' },
      },
    ],
    [
      'a contact card from a vCard',
      () => [
        '--contact-card',
        file('ana.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ana Lima\r\nN:Lima;Ana;;;\r\nTEL;TYPE=CELL:+15550104242\r\nEMAIL;TYPE=WORK:ana@x.example\r\nORG:Lumen;\r\nEND:VCARD\r\n'),
      ],
      {
        type: 'contacts',
        contacts: [
          {
            name: { formatted_name: 'Ana Lima', first_name: 'Ana', last_name: 'Lima' },
            phones: [{ phone: '+15550104242', type: 'CELL' }],
            emails: [{ email: 'ana@x.example', type: 'WORK' }],
            org: { company: 'Lumen' },
          },
        ],
      },
    ],
    [
      'a contact card from a JSON contact object',
      () => ['--contact-card', file('bo.json', JSON.stringify({ name: { formatted_name: 'Bo Chen' }, phones: [{ phone: '+15550109999' }] }))],
      { type: 'contacts', contacts: [{ name: { formatted_name: 'Bo Chen' }, phones: [{ phone: '+15550109999' }] }] },
    ],
    ['a reaction', () => ['--react', '👍', '--to-message', QUOTED], { type: 'reaction', reaction: { message_id: QUOTED, emoji: '👍' } }],
    ['a reaction removed ("")', () => ['--react', '', '--to-message', QUOTED], { type: 'reaction', reaction: { message_id: QUOTED, emoji: '' } }],
    [
      'any Cloud API message object from a file (--body), quoting a message',
      () => ['--body', file('body.json', JSON.stringify({ type: 'text', text: { body: 'From a file', preview_url: false } })), '--reply-to', QUOTED],
      { context: { message_id: QUOTED }, type: 'text', text: { body: 'From a file', preview_url: false } },
    ],
    [
      'a --body file saved with a UTF-8 BOM (Notepad)',
      () => ['--body', file('bom.json', `\uFEFF${JSON.stringify({ type: 'text', text: { body: 'With a BOM', preview_url: false } })}`)],
      { type: 'text', text: { body: 'With a BOM', preview_url: false } },
    ],
  ])('sends %s', async (_what, args, body) => {
    const { result, json } = await home.runJson(['send', '--to', TO, ...args()]);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(onlySentBody()).toStrictEqual(toContact(body));
    expect(json).toMatchObject({ outcome: 'sent', state: 'accepted', to: DIGITS, kind: body.type, wamid: expect.stringMatching(/^wamid\./) });
  });

  it('sends --body - from stdin as is', async () => {
    const result = await home.run(['send', '--to', TO, '--body', '-', '--json'], {
      input: JSON.stringify({ type: 'location', location: { latitude: 38.7223, longitude: -9.1393 } }),
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(onlySentBody()).toStrictEqual(toContact({ type: 'location', location: { latitude: 38.7223, longitude: -9.1393 } }));
  });

  it('sends media by a media id the number uploaded', async () => {
    const uploaded = sandbox.addMedia(Buffer.from('fake mp4 bytes'), 'video/mp4');
    const { result } = await home.runJson(['send', '--to', TO, '--video', uploaded.id, '--caption', 'Clip']);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(onlySentBody()).toStrictEqual(toContact({ type: 'video', video: { id: uploaded.id, caption: 'Clip' } }));
  });

  it("sends a template's DOCUMENT header with --filename, quoting a message", async () => {
    // Given the template is synced (it was added to the sandbox after connect's sync)
    expect((await home.run(['templates', 'sync'])).exitCode).toBe(0);
    const { result, json } = await home.runJson([
      'send', '--to', TO, '--template', 'invoice_ready', '--header-param', 'https://x.example/files/i7.pdf', '--filename', 'Invoice 7.pdf',
      '--reply-to', QUOTED,
    ]);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(json.template).toEqual({ name: 'invoice_ready', language: 'en_US' });
    expect(onlySentBody()).toStrictEqual(
      toContact({
        type: 'template',
        template: {
          name: 'invoice_ready',
          language: { code: 'en_US' },
          components: [{ type: 'header', parameters: [{ type: 'document', document: { link: 'https://x.example/files/i7.pdf', filename: 'Invoice 7.pdf' } }] }],
        },
        context: { message_id: QUOTED },
      }),
    );
  });

  it('sends to a username user by its user id as `recipient`, and says so', async () => {
    // A user id has no window recorded here: a template needs none, free-form needs --force
    const template = await home.run(['send', '--to', USER_ID, '--template', 'hello_world', '--lang', 'en_US']);
    expect(template.exitCode, template.stderr).toBe(0);
    expect(template.stderr).toContain(`✓ Sent to ${USER_ID}`);
    const image = await home.runJson(['send', '--to', USER_ID, '--image', 'https://x.example/a.png', '--force']);
    expect(image.result.exitCode, image.result.stdout).toBe(0);
    expect(image.json).toMatchObject({ to: USER_ID, recipientKind: 'user_id', kind: 'image' });
    const sent = acceptedSends(sandbox);
    expect(sent.map((s) => s.userId)).toEqual([USER_ID, USER_ID]);
    expect(sent.map((s) => s.to)).toEqual([undefined, undefined]);
    expect(sent[1]!.body).toStrictEqual(toContact({ type: 'image', image: { link: 'https://x.example/a.png' } }, { recipient: USER_ID }));
  });
});

describe('lumen send: local files are uploaded only once the message passes every check', () => {
  beforeEach(async () => {
    home = await connectedHome(sandbox);
    sandbox.reset();
  });
  afterEach(() => home.cleanup());

  it('uploads a local image, sends it by the id Meta gave, and a re-run with the same key neither uploads nor sends again', async () => {
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    const path = file('receipt.png', PNG);
    // When
    const { result, json } = await home.runJson(['send', '--to', TO, '--image', path, '--caption', 'Your receipt', '--idempotency-key', 'receipt-1']);
    // Then the sandbox holds the upload (its bytes, type and name) and the message names it by id
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const media = sandbox.media();
    expect(media).toEqual([
      expect.objectContaining({ origin: 'upload', mimeType: 'image/png', fileSize: PNG.length, filename: 'receipt.png', sha256: createHash('sha256').update(PNG).digest('hex') }),
    ]);
    expect(onlySentBody()).toStrictEqual(toContact({ type: 'image', image: { id: media[0]!.id, caption: 'Your receipt' } }));
    expect(json).toMatchObject({ outcome: 'sent', kind: 'image' });

    // And the same command again: the earlier send, nothing uploaded or sent
    const again = await home.runJson(['send', '--to', TO, '--image', path, '--caption', 'Your receipt', '--idempotency-key', 'receipt-1']);
    expect(again.result.exitCode, again.result.stdout).toBe(0);
    expect(again.json).toMatchObject({ outcome: 'already_sent', id: json.id });
    expect(sandbox.media()).toHaveLength(1);
    expect(sandbox.sent()).toHaveLength(1);
  });

  it('--dry-run prints the body with a placeholder id and the file it would upload, and uploads nothing', async () => {
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    const path = file('receipt.png', PNG);
    const { result, json } = await home.runJson(['send', '--to', TO, '--image', path, '--dry-run']);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(json).toStrictEqual({
      dryRun: true,
      request: {
        method: 'POST',
        path: `/v25.0/${sandbox.phoneNumberId}/messages`,
        body: toContact({ type: 'image', image: { id: '<media id of receipt.png once uploaded>' } }),
      },
      upload: { path, mimeType: 'image/png', size: PNG.length },
    });
    const human = await home.run(['send', '--to', TO, '--image', path, '--dry-run']);
    expect(human.stdout).toContain(`Dry run: nothing sent or uploaded. lumen would upload ${path} (image/png, ${PNG.length} bytes), then send:`);
    expect(sandbox.media()).toEqual([]);
    expect(sandbox.sent()).toEqual([]);
    expect(home.outbox()).toEqual([]);
  });

  it('uploads nothing when the message is refused (the 24-hour window is closed)', async () => {
    const path = file('receipt.png', PNG);
    const { result, json } = await home.runJson(['send', '--to', TO, '--image', path]);
    expect(result.exitCode).toBe(1);
    expect(json.error).toMatchObject({ code: 'window_closed', message: `+${DIGITS} has never written to this number: free-form messages are not allowed.` });
    expect(sandbox.media()).toEqual([]);
    expect(sandbox.sent()).toEqual([]);
    expect(home.outbox()).toEqual([]);
  });
});

describe('lumen send refuses what Meta would, and what makes no sense, before Meta sees it', () => {
  sharedHome();

  const list = (sections: unknown, more: Record<string, unknown> = {}) => () => [
    '--list',
    file('list.json', JSON.stringify({ body: 'Pick one', button: 'Choose', sections, ...more })),
  ];
  const rows = (n: number, row: (i: number) => Record<string, unknown> = (i) => ({ id: `r${i}`, title: `Row ${i}` })) =>
    Array.from({ length: n }, (_, i) => row(i));
  const buttons = (n: number) => Array.from({ length: n }, (_, i) => ['--button', `b${i}=Button ${i}`]).flat();

  it.each<[string, () => string[], RegExp]>([
    // Meta's limits
    ['a caption over 1024 characters', () => ['--image', 'https://x.example/a.png', '--caption', 'x'.repeat(1025)], /^--caption is 1025 characters; WhatsApp allows at most 1024\.$/],
    ['a caption on audio', () => ['--audio', 'https://x.example/a.ogg', '--caption', 'Hi'], /^Audio messages take no caption \(--caption\)\.$/],
    ['a file name on an image', () => ['--image', 'https://x.example/a.png', '--filename', 'a.png'], /^--filename is for documents only\.$/],
    ['a media link that is not http(s)', () => ['--image', 'ftp://x.example/a.png'], /^--image ftp:\/\/x\.example\/a\.png: no such file, and not an http\(s\) URL or a media id\.$/],
    ['a directory as a local image', () => ['--image', home.path('.')], /^--image \S+: is a directory; name a file in it\.$/],
    ['a .jpg that is not a JPEG', () => ['--image', file('fake.jpg', 'just some text')], /fake\.jpg is named as image\/jpeg but its content is not JPEG\.$/],
    ['a .webp sticker that is not WebP', () => ['--sticker', file('fake.webp', 'RIFF....AVI LIST')], /fake\.webp is named as image\/webp but its content is not WEBP\.$/],
    ['a local image of the wrong type', () => ['--image', file('a.gif', 'GIF89a')], /is not a file WhatsApp takes as an image/],
    ['a local image over 5 MB', () => ['--image', file('big.png', Buffer.alloc(5_300_000))], /^.*big\.png is 5\.3 MB; WhatsApp takes images of at most 5 MB\.$/],
    // Meta's MB is taken as 1,000,000 bytes (never looser than Meta): just over it is said in bytes
    ['a local image just over 5,000,000 bytes', () => ['--image', file('over.png', Buffer.alloc(5_000_001))], /^.*over\.png is 5,000,001 bytes; WhatsApp takes images of at most 5,000,000 bytes\.$/],
    ['a sticker over 500 KB', () => ['--sticker', file('big.webp', Buffer.alloc(500_001))], /WhatsApp takes stickers of at most 500,000 bytes\.$/],
    ['an empty local file', () => ['--document', file('empty.pdf', '')], /empty\.pdf is empty\.$/],
    ['four reply buttons', () => ['--text', 'Pick', ...buttons(4)], /^A message takes 1 to 3 reply buttons \(--button ID=TITLE\); got 4\.$/],
    ['a button title over 20 characters', () => ['--text', 'Pick', '--button', `a=${'t'.repeat(21)}`], /^Button title "t+" is 21 characters; WhatsApp allows at most 20\.$/],
    ['two buttons with one id', () => ['--text', 'Pick', '--button', 'a=Yes', '--button', 'a=No'], /^Two buttons have the id "a"; ids must differ\.$/],
    ['an interactive body over 1024 characters', () => ['--text', 'x'.repeat(1025), '--button', 'a=Yes'], /^The interactive body \(--text\) is 1025 characters; WhatsApp allows at most 1024\.$/],
    ['a header over 60 characters', () => ['--text', 'Pick', '--button', 'a=Yes', '--header', 'h'.repeat(61)], /^--header is 61 characters; WhatsApp allows at most 60\.$/],
    ['a footer over 60 characters', () => ['--text', 'Pick', '--button', 'a=Yes', '--footer', 'f'.repeat(61)], /^--footer is 61 characters; WhatsApp allows at most 60\.$/],
    ['a list with 11 rows', list([{ title: 'A', rows: rows(6) }, { title: 'B', rows: rows(5, (i) => ({ id: `b${i}`, title: `B ${i}` })) }]), /^A list takes at most 10 rows in all its sections; got 11\.$/],
    ['a list with 11 sections', list(rows(11, (i) => ({ title: `S${i}`, rows: [{ id: `r${i}`, title: 'Row' }] }))), /^A list takes 1 to 10 sections; got 11\.$/],
    ['a list row title over 24 characters', list([{ rows: [{ id: 'a', title: 'r'.repeat(25) }] }]), /^Row 1 of list section 1's title is 25 characters; WhatsApp allows at most 24\.$/],
    ['a list button over 20 characters', list([{ rows: rows(1) }], { button: 'b'.repeat(21) }), /^The list's "button" is 21 characters; WhatsApp allows at most 20\.$/],
    ['a list file that is not JSON', () => ['--list', file('bad.json', '{"body": ')], /bad\.json is not JSON/],
    ['a call-to-action label over 20 characters', () => ['--text', 'Go', '--cta-url', 'https://x.example', '--cta-text', 'c'.repeat(21)], /^--cta-text is 21 characters; WhatsApp allows at most 20\.$/],
    ['a call-to-action URL that is not http(s)', () => ['--text', 'Go', '--cta-url', 'mailto:a@x.example', '--cta-text', 'Mail'], /^--cta-url must be an http\(s\) URL; got "mailto:a@x\.example"\.$/],
    ['a latitude of 91', () => ['--location', '91,10'], /^The latitude must be a number from -90 to 90\.$/],
    ['a longitude of 181', () => ['--location', '10,181'], /^The longitude must be a number from -180 to 180\.$/],
    ['a location that is not LAT,LNG', () => ['--location', 'Lisbon'], /^--location takes LAT,LNG in degrees, e\.g\. 38\.7223,-9\.1393; got "Lisbon"\.$/],
    ['a contact card without a name', () => ['--contact-card', file('noname.json', JSON.stringify([{ phones: [{ phone: '+1555' }] }]))], /^Contact 1 has no name \(name\.formatted_name, or FN in a vCard\)\.$/],
    ['two emoji for a reaction', () => ['--react', '👍👍', '--to-message', QUOTED], /^--react takes one emoji \(or "" to remove a reaction\); got "👍👍"\.$/],
    ['a letter for a reaction', () => ['--react', 'a', '--to-message', QUOTED], /^--react takes one emoji/],
    ['a --body without a type', () => ['--body', file('notype.json', JSON.stringify({ text: { body: 'Hi' } }))], /^--body needs a "type" \(text, image, interactive, …\)\.$/],
    ['a --body that names the recipient', () => ['--body', file('to.json', JSON.stringify({ to: '1555', type: 'text', text: { body: 'Hi' } }))], /^--body must not name the recipient/],
    ['a --body template', () => ['--body', file('tpl.json', JSON.stringify({ type: 'template', template: { name: 'welcome' } }))], /^Send templates with --template/],
    ['a --body file that does not exist', () => ['--body', home.path('missing.json')], /^--body .*missing\.json: cannot read it \(no such file\)\.$/],
    // Combinations
    ['--image with --template', () => ['--image', 'https://x.example/a.png', '--template', 'hello_world'], /^One kind of message per send: --template and --image do not go together\.$/],
    ['two media flags', () => ['--image', 'https://x.example/a.png', '--video', 'https://x.example/v.mp4'], /^One kind of message per send: --image and --video do not go together\.$/],
    ['--location with --contact-card', () => ['--location', '1,2', '--contact-card', 'a.vcf'], /^One kind of message per send: --location and --contact-card/],
    ['--button without --text', () => ['--button', 'a=Yes'], /^--button needs --text: the message body\.$/],
    ['--cta-url without --text', () => ['--cta-url', 'https://x.example', '--cta-text', 'Go'], /^--cta-url needs --text: the message body\.$/],
    ['--cta-url without --cta-text', () => ['--text', 'Go', '--cta-url', 'https://x.example'], /^--cta-url needs --cta-text: the button's label\.$/],
    ['--cta-text without --cta-url', () => ['--text', 'Go', '--cta-text', 'Go'], /^--cta-text goes with --cta-url\.$/],
    ['--text with --image', () => ['--text', 'Hi', '--image', 'https://x.example/a.png'], /^--text does not go with --image: a media message's text is --caption\.$/],
    ['--text with --location', () => ['--text', 'Hi', '--location', '1,2'], /^--text does not go with --location\.$/],
    ['--caption without media', () => ['--text', 'Hi', '--caption', 'c'], /^--caption goes with --image, --video or --document\.$/],
    ['--filename with text', () => ['--text', 'Hi', '--filename', 'a.pdf'], /^--filename goes with --document/],
    ['--filename with a template whose header is text', () => ['--template', 'order_update', '--lang', 'en_US', '--header-param', '#1', '--param', 'A', '--param', 'B', '--button-param', '0=C', '--filename', 'a.pdf'], /a file name \(--filename\) is for a DOCUMENT header/],
    ['--header with plain text', () => ['--text', 'Hi', '--header', 'H'], /^--header and --footer go with --button, --list or --cta-url/],
    ['--name without --location', () => ['--text', 'Hi', '--name', 'Home'], /^--name and --address go with --location\.$/],
    ['--react without --to-message', () => ['--react', '👍'], /^--react needs --to-message WAMID: the message to react to\.$/],
    ['--to-message without --react', () => ['--text', 'Hi', '--to-message', QUOTED], /^--to-message goes with --react\.$/],
    ['--reply-to on a reaction', () => ['--react', '👍', '--to-message', QUOTED, '--reply-to', QUOTED], /--reply-to does not go with --react\.$/],
    ['--preview-url on an image', () => ['--image', 'https://x.example/a.png', '--preview-url'], /^--preview-url goes with a --text message\.$/],
    ['--param with an image', () => ['--image', 'https://x.example/a.png', '--param', 'x'], /^--param, --header-param and --button-param go with --template\.$/],
    ['a --button without =', () => ['--text', 'Pick', '--button', 'yes'], /^--button takes ID=TITLE, e\.g\. yes=Yes; got "yes"\.$/],
  ])('refuses %s (exit 2), sending and uploading nothing', async (_what, args, message) => {
    const { result, json } = await home.runJson(['send', '--to', TO, ...args()]);
    expect(result.exitCode, result.stdout + result.stderr).toBe(2);
    expect(json.error.message).toMatch(message);
    expect(json.error.message).not.toContain('\n');
    expect(sandbox.sent()).toEqual([]);
    expect(sandbox.media()).toEqual([]);
    expect(home.outbox()).toEqual([]);
  });

  it('refuses --csv with another kind of message', async () => {
    const { result, json } = await home.runJson(['send', '--csv', 'r.csv', '--image', 'https://x.example/a.png']);
    expect(result.exitCode).toBe(2);
    expect(json.error.message).toBe('--csv sends a template to each row; --image does not go with it.');
  });

  it('refuses a local file that is too large with --dry-run too (the file is checked, not only the body)', async () => {
    const path = file('big.jpg', Buffer.alloc(5_600_000));
    const { result, json } = await home.runJson(['send', '--to', TO, '--image', path, '--dry-run']);
    expect(result.exitCode).toBe(2);
    expect(json.error.message).toBe(`${path} is 5.6 MB; WhatsApp takes images of at most 5 MB.`);
    expect(sandbox.media()).toEqual([]);
  });
});

describe('media and read receipts of messages the relay received', () => {
  let relay: RunningRelay | undefined;

  /** `lumen relay start`, with the sandbox's webhooks pointed at it. */
  async function start(args: string[] = []): Promise<RunningRelay> {
    relay = await startRelay(home.env, args);
    sandbox.setWebhookUrl(`${relay.url}/webhooks/whatsapp/${home.integrationId}`);
    return relay;
  }

  beforeEach(async () => {
    home = await connectedHome(sandbox);
    sandbox.reset();
  });
  afterEach(async () => {
    sandbox.setWebhookUrl(undefined);
    await relay?.stop();
    relay = undefined;
    await killAllRelays();
    home.cleanup();
  });

  it('lists a received image and saves it by message id, by media id (its <sha256>.<ext> in the current folder) and to stdout', async () => {
    // Given a customer sends a picture, and the relay has stored it
    const relay = await start();
    sandbox.sendInbound([{ from: DIGITS, type: 'image', caption: 'my receipt', data: PNG, mimeType: 'image/png' }]);
    const message = await relay.waitForEvent((e) => e.event === 'message');
    const stored = await relay.waitForEvent((e) => e.event === 'media' && e.ok === true);
    const sha256 = createHash('sha256').update(PNG).digest('hex');

    // When listing the media
    const listed = await home.runJson(['media', 'list']);
    // Then it shows, received and stored, with its file
    expect(listed.result.exitCode).toBe(0);
    expect(listed.json).toEqual([
      expect.objectContaining({
        mediaId: stored.mediaId,
        interactionId: message.interactionId,
        direction: 'in',
        state: 'stored',
        mimeType: 'image/png',
        size: PNG.length,
        sha256,
        caption: 'my receipt',
        path: home.path('media', `${sha256}.png`),
      }),
    ]);
    const human = await home.run(['media', 'list']);
    expect(human.stdout).toMatch(new RegExp(`^MEDIA ID +DIRECTION +STATE +TYPE +SIZE +MESSAGE +RECEIVED/UPLOADED +FILE OR LAST ERROR\n${stored.mediaId} +received +stored +image/png +${PNG.length} bytes +${message.interactionId} +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\S+ +${home.path('media')}`));

    // When saving it by its message's id to a file
    const out = home.path('saved.png');
    const byMessage = await home.runJson(['media', 'get', message.interactionId, '-o', out]);
    expect(byMessage.result.exitCode, byMessage.result.stdout).toBe(0);
    expect(byMessage.json).toMatchObject({ mediaId: stored.mediaId, interactionId: message.interactionId, state: 'stored', fetched: false, sha256, path: out });
    expect(readFileSync(out)).toEqual(PNG);

    // When saving it by media id without -o: its stored name, in the current folder
    const here = await lumenIn(home.dir, ['media', 'get', stored.mediaId]);
    expect(here.exitCode).toBe(0);
    expect(Buffer.from(here.stdout).toString()).toContain(`to ${join(home.dir, `${sha256}.png`)}.`);
    expect(readFileSync(join(home.dir, `${sha256}.png`))).toEqual(PNG);
    // Saving it again is no conflict (that name holds these bytes); other bytes under its name, or a link, are kept
    expect((await lumenIn(home.dir, ['media', 'get', stored.mediaId])).exitCode).toBe(0);
    const named = join(home.dir, `${sha256}.png`);
    writeFileSync(named, 'MINE');
    const other = await lumenIn(home.dir, ['media', 'get', stored.mediaId]);
    expect([other.exitCode, Buffer.from(other.stderr).toString()]).toEqual([2, `Error: ${named} exists already; nothing was written.\nHint: Give another -o, or --force to replace it.`]);
    expect(readFileSync(named, 'utf8')).toBe('MINE');
    const victim = home.path('victim.txt');
    writeFileSync(victim, 'precious');
    rmSync(named);
    symlinkSync(victim, named);
    expect((await lumenIn(home.dir, ['media', 'get', stored.mediaId])).exitCode).toBe(2);
    expect((await lumenIn(home.dir, ['media', 'get', stored.mediaId, '--force'])).exitCode).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(named).isSymbolicLink()).toBe(false);
    expect(readFileSync(named)).toEqual(PNG);

    // When writing it to stdout
    const piped = await lumenIn(home.dir, ['media', 'get', message.interactionId, '-o', '-']);
    expect(piped.exitCode).toBe(0);
    expect(Buffer.from(piped.stdout)).toEqual(PNG);
    expect(sandbox.sent()).toEqual([]);

    // An existing file is kept unless --force; a folder gets the file in it; a missing folder is named
    writeFileSync(out, 'mine');
    const kept = await home.run(['media', 'get', message.interactionId, '-o', out]);
    expect([kept.exitCode, kept.stderr]).toEqual([2, `Error: ${out} exists already; nothing was written.\nHint: Give another -o, or --force to replace it.`]);
    expect(readFileSync(out, 'utf8')).toBe('mine');
    expect((await home.run(['media', 'get', message.interactionId, '-o', out, '--force'])).exitCode).toBe(0);
    expect(readFileSync(out)).toEqual(PNG);
    const folder = home.path('inbox');
    mkdirSync(folder);
    const inFolder = await home.runJson(['media', 'get', stored.mediaId, '-o', folder]);
    expect(inFolder.json.path).toBe(join(folder, `${sha256}.png`));
    // (its name is its hash: saving it there again is no conflict)
    expect((await home.runJson(['media', 'get', stored.mediaId, '-o', folder])).result.exitCode).toBe(0);
    const notAFolder = await home.run(['media', 'get', stored.mediaId, '-o', `${home.path('newdir')}/`]);
    expect([notAFolder.exitCode, notAFolder.stderr]).toEqual([2, `Error: -o ${home.path('newdir')}/: there is no such folder.`]);
    const nowhere = await home.run(['media', 'get', stored.mediaId, '-o', home.path('no', 'such', 'x.png')]);
    expect([nowhere.exitCode, nowhere.stderr]).toEqual([2, `Error: -o ${home.path('no', 'such', 'x.png')}: there is no folder ${home.path('no', 'such')} to write it in.`]);
  });

  it('finds a stored file by its name after LUMEN_HOME has moved: media get reads it, messages purge counts and deletes it', async () => {
    // Given a stored picture whose record names the folder it was stored in before LUMEN_HOME moved
    const relay = await start();
    sandbox.sendInbound([{ from: DIGITS, type: 'image', data: PNG, mimeType: 'image/png' }]);
    const message = await relay.waitForEvent((e) => e.event === 'message');
    const stored = await relay.waitForEvent((e) => e.event === 'media' && e.ok === true);
    const sha256 = createHash('sha256').update(PNG).digest('hex');
    const file = home.path('media', `${sha256}.png`);
    await relay.stop();
    withDb(home.dir, (db) => {
      db.prepare('UPDATE media SET path = ? WHERE media_id = ?').run(`/home/someone-else/.lumen/media/${sha256}.png`, stored.mediaId);
      db.prepare("UPDATE interactions SET received_at = '2025-01-01T00:00:00.000Z'").run();
    }, { readonly: false });

    // When saving it, it is read from this LUMEN_HOME/media, not fetched again
    const out = home.path('moved.png');
    const saved = await home.runJson(['media', 'get', message.interactionId, '-o', out]);
    expect(saved.result.exitCode, saved.result.stderr).toBe(0);
    expect(saved.json).toMatchObject({ fetched: false, sha256, path: out });
    expect(readFileSync(out)).toEqual(PNG);

    // When purging, the dry run counts the file and the purge deletes it here
    const plan = await home.runJson(['messages', 'purge', '--older-than', '30d', '--dry-run']);
    expect(plan.json).toMatchObject({ dryRun: true, inbound: 1, media: 1, files: 1 });
    expect((await home.run(['messages', 'purge', '--older-than', '30d', '--dry-run'])).stdout).toContain('1 media records (1 files)');
    expect(existsSync(file)).toBe(true);
    const done = await home.runJson(['messages', 'purge', '--older-than', '30d']);
    expect(done.json).toMatchObject({ dryRun: false, inbound: 1, media: 1, files: 1 });
    expect(existsSync(file)).toBe(false);
  });

  it('fetches a received file the relay did not store through the Graph API, checked against its sha256', async () => {
    // Given a relay that refuses files over 10 bytes: it gives this one up (no retries) and stores only the message
    const relay = await start(['--media-max-bytes', '10']);
    sandbox.sendInbound([{ from: DIGITS, type: 'image', data: PNG, mimeType: 'image/png' }]);
    const message = await relay.waitForEvent((e) => e.event === 'message');
    await relay.waitForEvent((e) => e.event === 'media' && e.ok === false);
    const listed = await home.runJson(['media', 'list']);
    expect(listed.json).toEqual([
      expect.objectContaining({ interactionId: message.interactionId, state: 'failed', path: null, lastError: `the file is ${PNG.length} bytes, over the 10-byte cap` }),
    ]);
    const human = await home.run(['media', 'list']);
    expect(human.stdout).toMatch(/ received +failed +image\/png /);
    expect(human.stdout).toContain(`error: the file is ${PNG.length} bytes, over the 10-byte cap`);

    // When saving it
    const out = home.path('fetched.png');
    const { result, json } = await home.runJson(['media', 'get', message.interactionId, '-o', out]);
    // Then it was fetched now, and is the customer's file
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(json).toMatchObject({ state: 'failed', fetched: true, size: PNG.length, sha256: createHash('sha256').update(PNG).digest('hex'), path: out });
    expect(readFileSync(out)).toEqual(PNG);
    expect(existsSync(home.path('media', `${json.sha256}.png`))).toBe(false); // not stored by the CLI: the relay does that
  });

  it('lists a file lumen uploaded and fetches it through the Graph API', async () => {
    home.contactWrote(TO, new Date(Date.now() - HOUR));
    const sent = await home.runJson(['send', '--to', TO, '--sticker', file('smile.webp', Buffer.from('RIFF....WEBPVP8 tiny'))]);
    expect(sent.result.exitCode, sent.result.stdout).toBe(0);
    const [upload] = sandbox.media();
    const listed = await home.runJson(['media', 'list']);
    expect(listed.json).toEqual([expect.objectContaining({ mediaId: upload!.id, direction: 'out', state: 'uploaded', mimeType: 'image/webp', filename: 'smile.webp', interactionId: null })]);
    const out = home.path('copy.webp');
    const got = await home.runJson(['media', 'get', upload!.id, '-o', out]);
    expect(got.result.exitCode, got.result.stdout).toBe(0);
    expect(got.json).toMatchObject({ direction: 'out', fetched: true, sha256: upload!.sha256 });
    expect(readFileSync(out)).toEqual(Buffer.from('RIFF....WEBPVP8 tiny'));
  });

  it('refuses media it does not know, and -o - with --json', async () => {
    const unknown = await home.runJson(['media', 'get', '1234567890123456']);
    expect(unknown.result.exitCode).toBe(1);
    expect(unknown.json.error).toMatchObject({ code: 'media_not_found', message: 'No media 1234567890123456 in workspace default.' });
    const noMedia = await home.runJson(['media', 'get', 'in_999']);
    expect(noMedia.json.error.message).toBe('Message in_999 carries no media in workspace default.');
    const both = await home.runJson(['media', 'get', 'in_1', '-o', '-']);
    expect(both.result.exitCode).toBe(2);
    expect(both.json.error.message).toMatch(/^-o - writes the file to stdout/);
  });

  it('marks a received message read, then read with the typing indicator; refuses a wamid lumen never received', async () => {
    const relay = await start();
    sandbox.sendInbound([{ from: DIGITS, type: 'text', text: 'hello?' }]);
    const message = await relay.waitForEvent((e) => e.event === 'message');

    const read = await home.runJson(['messages', 'read', message.wamid]);
    expect(read.result.exitCode, read.result.stdout).toBe(0);
    expect(read.json).toEqual({ id: message.interactionId, wamid: message.wamid, from: DIGITS, fromKind: 'phone', read: true, typing: false });
    const typing = await home.run(['messages', 'read', message.wamid, '--typing']);
    expect(typing.exitCode, typing.stderr).toBe(0);
    expect(typing.stdout).toBe(`+${DIGITS} sees message ${message.interactionId} as read, and that you are typing.`);
    expect(sandbox.reads().map((r) => [r.messageId, r.typingIndicator, r.outcome.result])).toEqual([
      [message.wamid, undefined, 'accepted'],
      [message.wamid, 'text', 'accepted'],
    ]);

    // A wamid lumen never received (a sent one, or a typo) is refused before Meta is asked
    const unknown = await home.runJson(['messages', 'read', QUOTED]);
    expect(unknown.result.exitCode).toBe(1);
    expect(unknown.json.error).toMatchObject({
      code: 'message_not_found',
      message: `lumen never received a message ${QUOTED} in workspace default: only received messages can be marked read.`,
    });
    expect(sandbox.reads()).toHaveLength(2);
  });
});
