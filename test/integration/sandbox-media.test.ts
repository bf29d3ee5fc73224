import { createHash, createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { FormData as UndiciFormData, request as undiciRequest } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  SANDBOX_ACCESS_TOKEN,
  SANDBOX_APP_SECRET,
  SANDBOX_PHONE_NUMBER_ID,
  newWamid,
  seedAuthenticationTemplate,
  startSandbox,
  type SandboxHandle,
} from '../../src/sandbox/index.js';

const V = 'v23.0';
const TO = '15550001111';
const USER = 'US.13491208655302741918';
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mNQvZwGAAJ/AV9pIfneAAAAAElFTkSuQmCC',
  'base64',
);

// The sandbox's clock: media URLs expire when the test moves it, never by waiting.
let clock = Date.UTC(2026, 0, 1);
let sandbox: SandboxHandle;

interface Received {
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: any;
}
let receiver: Server;
let receiverUrl: string;
const received: Received[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  sandbox = await startSandbox({ now: () => clock, webhookDelayMs: 0, webhookRetryBaseMs: 10 });
});
afterAll(async () => {
  await sandbox.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});
beforeEach(() => {
  sandbox.reset();
  sandbox.setWebhookUrl(undefined);
  received.length = 0;
});
afterEach(async () => {
  await sandbox.webhooksIdle();
});

const sha256Hex = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const sha256Base64 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('base64');

async function graph(path: string, init: RequestInit = {}, token: string | null = SANDBOX_ACCESS_TOKEN) {
  const url = path.startsWith('http') ? path : `${sandbox.url}${path}`;
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { ...init, headers });
  return { status: res.status, body: (await res.json()) as any };
}

function send(body: unknown) {
  return graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

function control(path: string, body?: unknown): Promise<Response> {
  return fetch(`${sandbox.url}/_sandbox/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
}

async function controlJson(path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await control(path, body);
  return { status: res.status, body: await res.json() };
}

/** Uploads like Meta's docs: messaging_product, type and the file (with a filename and its content type). */
async function upload(bytes: Buffer, type: string, options: { filename?: string; fields?: Record<string, string> } = {}) {
  const form = new FormData();
  for (const [k, v] of Object.entries(options.fields ?? { messaging_product: 'whatsapp', type })) form.append(k, v);
  form.append('file', new Blob([bytes], { type }), options.filename ?? 'file.bin');
  return graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/media`, { method: 'POST', body: form });
}

/** A multipart body built by hand (as curl sends it): instant even for 100 MB, unlike serialising a FormData. */
function multipart(parts: { name: string; value: string | Buffer; filename?: string; type?: string; disposition?: string }[], boundary = 'lumen-test-boundary') {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = part.disposition ?? `form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ''}`;
    const headers = [`Content-Disposition: ${disposition}`, ...(part.type !== undefined ? [`Content-Type: ${part.type}`] : [])];
    chunks.push(Buffer.from(`--${boundary}\r\n${headers.join('\r\n')}\r\n\r\n`), Buffer.from(part.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

function postRaw(body: Buffer, contentType: string) {
  return graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/media`, { method: 'POST', headers: { 'content-type': contentType }, body });
}

/** A big upload, sent with undici's request (as lumen's Graph client does): streamed, never concatenated. */
async function uploadRaw(bytes: Buffer, type: string) {
  const boundary = 'lumen-big-boundary';
  const head = multipart([{ name: 'messaging_product', value: 'whatsapp' }, { name: 'type', value: type }], boundary).body;
  const parts = [
    head.subarray(0, head.length - `--${boundary}--\r\n`.length),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: ${type}\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ];
  const res = await undiciRequest(`${sandbox.url}/${V}/${SANDBOX_PHONE_NUMBER_ID}/media`, {
    method: 'POST',
    // A connection of its own: a streamed body cannot be sent again if the server closes an idle kept-alive socket
    // just as it is reused (its keep-alive timeout passes while a loaded machine hashes 100 MB between two uploads).
    reset: true,
    headers: {
      authorization: `Bearer ${SANDBOX_ACCESS_TOKEN}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(parts.reduce((n, p) => n + p.length, 0)),
    },
    body: Readable.from(parts),
  });
  return { status: res.statusCode, body: (await res.body.json()) as any };
}

async function uploaded(bytes: Buffer, type: string, filename?: string): Promise<string> {
  const { status, body } = await upload(bytes, type, { filename: filename ?? 'file.bin' });
  expect(status, JSON.stringify(body)).toBe(200);
  return body.id as string;
}

async function download(url: string, token: string | null = SANDBOX_ACCESS_TOKEN) {
  const res = await fetch(url, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes, json: () => JSON.parse(bytes.toString('utf8')) };
}

function expectMetaError(body: any, code: number, mentions?: string): void {
  expect(body.error).toMatchObject({ code, type: 'OAuthException', message: expect.any(String) });
  expect(body.error.fbtrace_id).toMatch(/^[A-Za-z0-9_-]{10,}$/);
  if (mentions !== undefined) {
    expect(body.error.error_data?.messaging_product).toBe('whatsapp');
    expect(body.error.error_data?.details).toContain(mentions);
  }
}

describe('media upload, lookup and download', () => {
  it('uploads, describes and serves the exact bytes', async () => {
    const id = await uploaded(PNG, 'image/png', 'pixel.png');
    expect(id).toMatch(/^\d{16}$/);

    const info = await graph(`/${V}/${id}`);
    expect(info.status).toBe(200);
    expect(info.body).toEqual({
      messaging_product: 'whatsapp',
      url: expect.stringMatching(new RegExp(`^${sandbox.url}/_sandbox/media/${id}\\?expires=\\d+&sig=[A-Za-z0-9_-]+$`)),
      mime_type: 'image/png',
      sha256: sha256Hex(PNG),
      file_size: PNG.length,
      id,
    });

    const file = await download(info.body.url);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/png');
    expect(Number(file.headers.get('content-length'))).toBe(PNG.length);
    expect(file.bytes.equals(PNG)).toBe(true);
    expect(sha256Hex(file.bytes)).toBe(info.body.sha256);
    expect(sandbox.media()).toEqual([
      { id, mimeType: 'image/png', sha256: sha256Hex(PNG), fileSize: PNG.length, filename: 'pixel.png', origin: 'upload', createdAt: clock },
    ]);
  });

  it("takes an upload from undici's FormData, as lumen's Graph client sends it", async () => {
    const bytes = Buffer.from('%PDF-1.4\n% not much of a document\n%%EOF\n');
    const form = new UndiciFormData();
    form.append('messaging_product', 'whatsapp');
    form.append('type', 'application/pdf');
    form.append('file', new Blob([bytes], { type: 'application/pdf' }), 'terms.pdf');
    const res = await undiciRequest(`${sandbox.url}/${V}/${SANDBOX_PHONE_NUMBER_ID}/media`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SANDBOX_ACCESS_TOKEN}` },
      body: form,
    });
    expect(res.statusCode).toBe(200);
    const { id } = (await res.body.json()) as { id: string };
    const info = await graph(`/${V}/${id}`);
    expect(info.body).toMatchObject({ mime_type: 'application/pdf', sha256: sha256Hex(bytes), file_size: bytes.length });
    const file = await download(info.body.url);
    expect(file.bytes.equals(bytes)).toBe(true);
    expect(file.headers.get('content-disposition')).toBe('attachment; filename="terms.pdf"');
  });

  it('every lookup gives a new URL, and each works', async () => {
    const id = await uploaded(PNG, 'image/png');
    const a = (await graph(`/${V}/${id}`)).body.url;
    const b = (await graph(`/${V}/${id}`)).body.url;
    expect(a).not.toBe(b);
    expect((await download(a)).status).toBe(200);
    expect((await download(b)).status).toBe(200);
  });

  it('needs the access token for the lookup and the download, like Meta', async () => {
    const id = await uploaded(PNG, 'image/png');
    const noToken = await graph(`/${V}/${id}`, {}, null);
    expect(noToken.status).toBe(401);
    expectMetaError(noToken.body, 190);

    const { url } = (await graph(`/${V}/${id}`)).body;
    for (const token of [null, 'EAAwrongtoken']) {
      const file = await download(url, token);
      expect(file.status).toBe(401);
      expectMetaError(file.json(), 190);
    }
    // The Graph access_token query parameter does not open media URLs: only the header does.
    const byQuery = await download(`${url}&access_token=${SANDBOX_ACCESS_TOKEN}`, null);
    expect(byQuery.status).toBe(401);
    expect((await download(url)).status).toBe(200);
  });

  it('refuses a tampered or foreign URL with 404', async () => {
    const id = await uploaded(PNG, 'image/png');
    const other = await uploaded(Buffer.from('hello'), 'text/plain');
    const { url } = (await graph(`/${V}/${id}`)).body;
    const tampered = url.replace(/sig=[^&]+/, 'sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect((await download(tampered)).status).toBe(404);
    const foreign = url.replace(`/media/${id}`, `/media/${other}`);
    const file = await download(foreign);
    expect(file.status).toBe(404);
    expect(file.json().error.message).toMatch(/not found/i);
  });

  it('expires URLs 5 minutes after they were issued; a fresh lookup gives a working one', async () => {
    const id = await uploaded(PNG, 'image/png');
    const { url } = (await graph(`/${V}/${id}`)).body;
    clock += 5 * 60 * 1000 - 1;
    expect((await download(url)).status).toBe(200);
    clock += 1;
    const expired = await download(url);
    expect(expired.status).toBe(404);
    expect(expired.json().error).toMatchObject({ code: 100, message: expect.stringMatching(/expired/) });

    const fresh = (await graph(`/${V}/${id}`)).body.url;
    expect(fresh).not.toBe(url);
    const file = await download(fresh);
    expect(file.status).toBe(200);
    expect(file.bytes.equals(PNG)).toBe(true);
  });

  it('POST /_sandbox/media/expire expires every URL issued so far, or one media id’s', async () => {
    const a = await uploaded(PNG, 'image/png');
    const b = await uploaded(Buffer.from('b'), 'text/plain');
    const urlA = (await graph(`/${V}/${a}`)).body.url;
    const urlB = (await graph(`/${V}/${b}`)).body.url;

    const one = await controlJson('media/expire', { id: a });
    expect(one).toEqual({ status: 200, body: { success: true, expired: 1 } });
    expect((await download(urlA)).status).toBe(404);
    expect((await download(urlB)).status).toBe(200);

    const all = await controlJson('media/expire', {});
    expect(all.body).toEqual({ success: true, expired: 1 });
    expect((await download(urlB)).status).toBe(404);
    // URLs issued after the expiry work.
    expect((await download((await graph(`/${V}/${b}`)).body.url)).status).toBe(200);
    expect(sandbox.expireMediaUrls()).toBe(1);

    expect((await controlJson('media/expire', { id: '999' })).status).toBe(404);
  });

  it('a fault makes the next N downloads of a media id fail with 500, then they work', async () => {
    const id = await uploaded(PNG, 'image/png');
    const other = await uploaded(Buffer.from('x'), 'text/plain');
    const { url } = (await graph(`/${V}/${id}`)).body;
    const otherUrl = (await graph(`/${V}/${other}`)).body.url;

    const fault = await controlJson('media/faults', { id, times: 2 });
    expect(fault).toEqual({ status: 200, body: { success: true, fault: { id, on: 'download', times: 2, status: 500 } } });
    expect((await download(otherUrl)).status).toBe(200);
    for (let i = 0; i < 2; i += 1) {
      const failed = await download(url);
      expect(failed.status).toBe(500);
      expect(failed.json().error).toMatchObject({ code: 1, is_transient: true, message: 'An unknown error occurred' });
    }
    const file = await download(url);
    expect(file.status).toBe(200);
    expect(file.bytes.equals(PNG)).toBe(true);
  });

  it('a fault on info makes the lookup fail (status chosen), and one without id hits any media', async () => {
    const id = await uploaded(PNG, 'image/png');
    expect((await controlJson('media/faults', { id, on: 'info', status: 503 })).status).toBe(200);
    const failed = await graph(`/${V}/${id}`);
    expect(failed.status).toBe(503);
    expectMetaError(failed.body, 1);
    expect((await graph(`/${V}/${id}`)).status).toBe(200);

    sandbox.addMediaFault({ on: 'download', times: 0 });
    const { url } = (await graph(`/${V}/${id}`)).body;
    expect((await download(url)).status).toBe(500);
    expect((await download(url)).status).toBe(500);
    sandbox.reset();
    expect(sandbox.media()).toEqual([]);
  });

  it('refuses malformed media faults', async () => {
    const id = await uploaded(PNG, 'image/png');
    for (const body of [{ id: '42' }, { id, on: 'upload' }, { id, times: -1 }, { id, status: 404 }]) {
      const res = await controlJson('media/faults', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.message).toEqual(expect.any(String));
    }
  });

  it('deletes media: the lookup is then an unknown object and old URLs are gone', async () => {
    const id = await uploaded(PNG, 'image/png');
    const { url } = (await graph(`/${V}/${id}`)).body;
    expect(await graph(`/${V}/${id}`, { method: 'DELETE' })).toEqual({ status: 200, body: { success: true } });
    const gone = await graph(`/${V}/${id}`);
    expect(gone.status).toBe(400);
    expect(gone.body.error).toMatchObject({ code: 100, error_subcode: 33 });
    expect((await download(url)).status).toBe(404);
    expect((await graph(`/${V}/${id}`, { method: 'DELETE' })).body.error.error_subcode).toBe(33);
  });

  it('checks phone_number_id on the lookup', async () => {
    const id = await uploaded(PNG, 'image/png');
    expect((await graph(`/${V}/${id}?phone_number_id=${SANDBOX_PHONE_NUMBER_ID}`)).status).toBe(200);
    expect((await graph(`/${V}/${id}?phone_number_id=123`)).body.error.error_subcode).toBe(33);
  });
});

describe('upload refusals', () => {
  it('needs a file, messaging_product and type', async () => {
    const noFile = new FormData();
    noFile.append('messaging_product', 'whatsapp');
    noFile.append('type', 'image/png');
    const a = await graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/media`, { method: 'POST', body: noFile });
    expect(a.status).toBe(400);
    expectMetaError(a.body, 100, 'file');
    expect(a.body.error.message).toBe('(#100) The parameter file is required.');

    const json = await graph(`/${V}/${SANDBOX_PHONE_NUMBER_ID}/media`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', type: 'image/png', file: 'abc' }),
    });
    expectMetaError(json.body, 100, 'file');

    const noProduct = await upload(PNG, 'image/png', { fields: { type: 'image/png' } });
    expectMetaError(noProduct.body, 100, 'messaging_product');
    const noType = await upload(PNG, 'image/png', { fields: { messaging_product: 'whatsapp' } });
    expectMetaError(noType.body, 100, 'type');
    const empty = await upload(Buffer.alloc(0), 'image/png');
    expectMetaError(empty.body, 100, 'file');
    expect(sandbox.media()).toEqual([]);
  });

  it('parses hand-made bodies: a preamble, quoted and RFC 5987 filenames, a part without a content type', async () => {
    const { body, contentType } = multipart([
      { name: 'messaging_product', value: 'whatsapp' },
      { name: 'type', value: 'text/plain' },
      { name: 'file', value: 'line one\r\n--not-the-boundary\r\n', disposition: `form-data; name="file"; filename="a \\"b\\".txt"; filename*=UTF-8''%E2%82%AC%20rates.txt`, type: 'text/plain' },
    ], '----x"y');
    const quoted = contentType.replace('boundary=----x"y', 'boundary="----x\'y"');
    const withPreamble = Buffer.concat([Buffer.from('This is a preamble.\r\n'), Buffer.from(body.toString('latin1').replaceAll('----x"y', "----x'y"), 'latin1')]);
    const { status, body: response } = await postRaw(withPreamble, quoted);
    expect(status, JSON.stringify(response)).toBe(200);
    const [media] = sandbox.media();
    expect(media).toMatchObject({ filename: '€ rates.txt', mimeType: 'text/plain' });
    const file = await download((await graph(`/${V}/${response.id}`)).body.url);
    expect(file.bytes.toString()).toBe('line one\r\n--not-the-boundary\r\n');
    expect(file.headers.get('content-disposition')).toBe(`attachment; filename="_ rates.txt"; filename*=UTF-8''%E2%82%AC%20rates.txt`);

    const untyped = multipart([
      { name: 'messaging_product', value: 'whatsapp' },
      { name: 'type', value: 'image/png' },
      { name: 'file', value: PNG, filename: 'pixel.png' },
    ]);
    const refused = await postRaw(untyped.body, untyped.contentType);
    expectMetaError(refused.body, 100, "Received file of type 'application/octet-stream'");

    for (const [raw, type] of [
      [Buffer.from('no boundary here'), 'multipart/form-data; boundary=zzz'],
      [body.subarray(0, body.length - 30), contentType],
      [body, 'multipart/form-data'],
    ] as const) {
      const bad = await postRaw(raw, type);
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatchObject({ code: 100, message: '(#100) The request body could not be parsed as multipart/form-data.' });
    }
  });

  it('refuses unsupported MIME types, going by the file part’s own type', async () => {
    for (const type of ['application/zip', 'image/gif', 'application/octet-stream']) {
      const { status, body } = await upload(PNG, type, { fields: { messaging_product: 'whatsapp', type: 'image/png' } });
      expect(status).toBe(400);
      expectMetaError(body, 100, `Received file of type '${type}'`);
      expect(body.error.error_data.details).toContain('image/jpeg, image/png');
    }
  });

  it('accepts every supported type', async () => {
    const types = [
      'image/jpeg', 'image/png', 'video/mp4', 'video/3gpp', 'audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4',
      'audio/ogg', 'text/plain', 'application/pdf', 'application/msword',
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'application/vnd.ms-excel',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'application/vnd.ms-powerpoint',
      'application/vnd.openxmlformats-officedocument.presentationml.presentation', 'image/webp',
    ];
    for (const type of types) expect((await upload(Buffer.from('x'), type)).status, type).toBe(200);
    expect(sandbox.media().map((m) => m.mimeType)).toEqual(types);
  });

  it.each([
    ['image', 'image/jpeg', 5_000_000],
    ['sticker', 'image/webp', 500_000],
    ['video', 'video/mp4', 16_000_000],
    ['audio', 'audio/mpeg', 16_000_000],
    ['document', 'application/pdf', 100_000_000],
  ])('holds %s files (%s) to %i bytes with 131053', async (kind, type, limit) => {
    const bytes = Buffer.alloc(limit + 1, 1);
    const atLimit = bytes.subarray(0, limit);
    expect((await uploadRaw(atLimit, type)).status).toBe(200);
    expect(sandbox.media()[0]!.sha256).toBe(sha256Hex(atLimit));
    const over = await uploadRaw(bytes, type);
    expect(over.status).toBe(400);
    expectMetaError(over.body, 131053, `${kind} files (${type}) can be at most ${limit} bytes`);
    expect(over.body.error.message).toBe('(#131053) Media upload error');
    expect(sandbox.media()).toHaveLength(1);
  }, 60_000);
});

describe('outbound message types', () => {
  const base = (extra: Record<string, unknown>) => ({ messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, ...extra });

  async function accepted(body: Record<string, unknown>): Promise<string> {
    const { status, body: response } = await send(body);
    expect(status, JSON.stringify(response)).toBe(200);
    expect(response).toEqual({
      messaging_product: 'whatsapp',
      contacts: [{ input: TO, wa_id: TO }],
      messages: [{ id: expect.stringMatching(/^wamid\./) }],
    });
    const last = sandbox.sent().at(-1)!;
    expect(last.body).toEqual(body);
    expect(last.outcome).toEqual({ result: 'accepted', status: 200, wamid: response.messages[0].id });
    return response.messages[0].id;
  }

  it('accepts every type, recording the exact bodies (also on GET /_sandbox/sent)', async () => {
    const image = await uploaded(PNG, 'image/png');
    const video = await uploaded(Buffer.from('video'), 'video/mp4');
    const audio = await uploaded(Buffer.from('audio'), 'audio/ogg');
    const doc = await uploaded(Buffer.from('%PDF-1.4'), 'application/pdf');
    const sticker = await uploaded(Buffer.from('RIFF'), 'image/webp');
    const inbound = newWamid(TO);
    const bodies = [
      base({ type: 'text', text: { body: 'x'.repeat(4096), preview_url: true } }),
      base({ type: 'image', image: { id: image, caption: 'c'.repeat(1024) } }),
      base({ type: 'image', image: { link: 'https://example.com/a.jpg' } }),
      base({ type: 'video', video: { id: video, caption: 'A clip' } }),
      base({ type: 'audio', audio: { id: audio } }),
      base({ type: 'audio', audio: { link: 'https://example.com/a.ogg' } }),
      base({ type: 'document', document: { id: doc, filename: 'terms.pdf', caption: 'Our terms' } }),
      base({ type: 'document', document: { link: 'https://example.com/a.pdf', filename: 'a.pdf' } }),
      base({ type: 'sticker', sticker: { id: sticker } }),
      base({
        type: 'interactive',
        interactive: {
          type: 'button',
          header: { type: 'image', image: { id: image } },
          body: { text: 'b'.repeat(1024) },
          footer: { text: 'f'.repeat(60) },
          action: {
            buttons: [
              { type: 'reply', reply: { id: 'i'.repeat(256), title: 't'.repeat(20) } },
              { type: 'reply', reply: { id: 'no', title: 'No' } },
              { type: 'reply', reply: { id: 'later', title: 'Later' } },
            ],
          },
        },
      }),
      base({
        type: 'interactive',
        interactive: { type: 'button', header: { type: 'text', text: 'h'.repeat(60) }, body: { text: 'Yes?' }, action: { buttons: [{ type: 'reply', reply: { id: 'y', title: 'Yes' } }] } },
      }),
      base({
        type: 'interactive',
        interactive: {
          type: 'list',
          header: { type: 'text', text: 'Menu' },
          body: { text: 'Pick one' },
          footer: { text: 'Thanks' },
          action: {
            button: 'b'.repeat(20),
            sections: [
              {
                title: 's'.repeat(24),
                rows: Array.from({ length: 5 }, (_, i) => ({ id: `r${i}`, title: 't'.repeat(24), description: 'd'.repeat(72) })),
              },
              { title: 'More', rows: Array.from({ length: 5 }, (_, i) => ({ id: `${'x'.repeat(198)}${i}` , title: `Row ${i}` })) },
            ],
          },
        },
      }),
      base({
        type: 'interactive',
        interactive: { type: 'list', body: { text: 'One section, no title' }, action: { button: 'Open', sections: [{ rows: [{ id: 'a', title: 'A' }] }] } },
      }),
      base({
        type: 'interactive',
        interactive: {
          type: 'cta_url',
          header: { type: 'document', document: { link: 'https://example.com/menu.pdf' } },
          body: { text: 'See the menu' },
          action: { name: 'cta_url', parameters: { display_text: 'd'.repeat(20), url: 'https://example.com/menu' } },
        },
      }),
      base({ type: 'location', location: { latitude: -90, longitude: 180, name: 'Edge', address: 'South Pole' } }),
      base({ type: 'location', location: { latitude: 52.37, longitude: 4.9 } }),
      base({
        type: 'contacts',
        contacts: [
          { name: { formatted_name: 'Ana Silva', first_name: 'Ana' }, phones: [{ phone: '+1 555 010 9999', type: 'CELL' }] },
          { name: { formatted_name: 'Bo' } },
        ],
      }),
      base({ type: 'reaction', reaction: { message_id: inbound, emoji: '👍' } }),
      base({ type: 'reaction', reaction: { message_id: inbound, emoji: '❤️' } }),
      base({ type: 'reaction', reaction: { message_id: inbound, emoji: '🇳🇱' } }),
      base({ type: 'reaction', reaction: { message_id: inbound, emoji: '' } }),
      base({ type: 'text', context: { message_id: inbound }, text: { body: 'A reply' } }),
      base({ type: 'image', context: { message_id: inbound }, image: { id: image } }),
    ];
    for (const body of bodies) await accepted(body);

    const res = await control(`sent?to=${TO}`);
    const { data } = (await res.json()) as any;
    expect(data.map((s: any) => s.body)).toEqual(bodies);
    expect(data.every((s: any) => s.outcome.result === 'accepted')).toBe(true);
  });

  it('reports sent, delivered and read for every type', async () => {
    sandbox.setWebhookUrl(receiverUrl);
    const image = await uploaded(PNG, 'image/png');
    const wamids = [
      await accepted(base({ type: 'image', image: { id: image } })),
      await accepted(base({ type: 'location', location: { latitude: 1, longitude: 2 } })),
      await accepted(base({ type: 'interactive', interactive: { type: 'button', body: { text: 'Q' }, action: { buttons: [{ type: 'reply', reply: { id: 'a', title: 'A' } }] } } })),
      await accepted(base({ type: 'reaction', reaction: { message_id: newWamid(TO), emoji: '👍' } })),
    ];
    await sandbox.webhooksIdle();
    const statuses = received.flatMap((r) => r.body.entry[0].changes[0].value.statuses ?? []);
    for (const wamid of wamids) {
      expect(statuses.filter((s: any) => s.id === wamid).map((s: any) => s.status).sort()).toEqual(['delivered', 'read', 'sent']);
    }
    expect(statuses.every((s: any) => s.recipient_id === TO)).toBe(true);
  });

  const image = () => sandbox.media()[0]!.id;
  const buttons = (n: number, f: (i: number) => Record<string, unknown> = (i) => ({ id: `b${i}`, title: `B${i}` })) =>
    Array.from({ length: n }, (_, i) => ({ type: 'reply', reply: f(i) }));
  const buttonMessage = (action: unknown, extra: Record<string, unknown> = {}) =>
    base({ type: 'interactive', interactive: { type: 'button', body: { text: 'Q' }, action, ...extra } });
  const rows = (n: number, prefix = 'r') => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, title: `Row ${i}` }));
  const listMessage = (action: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    base({ type: 'interactive', interactive: { type: 'list', body: { text: 'Pick' }, action: { button: 'Open', ...action }, ...extra } });
  const cta = (parameters: Record<string, unknown>, name = 'cta_url') =>
    base({ type: 'interactive', interactive: { type: 'cta_url', body: { text: 'Go' }, action: { name, parameters } } });

  // [what, body, code, what error_data.details names]
  const refusals: [string, () => Record<string, unknown>, number, string][] = [
    ['text over 4096', () => base({ type: 'text', text: { body: 'x'.repeat(4097) } }), 100, "text['body']"],
    ['text without body', () => base({ type: 'text', text: {} }), 100, "text['body']"],
    ['no payload for the type', () => base({ type: 'image' }), 100, 'image'],
    ['unknown media id', () => base({ type: 'image', image: { id: '1234567890123456' } }), 100, "image['id']"],
    ['neither id nor link', () => base({ type: 'video', video: { caption: 'x' } }), 100, "video['id']"],
    ['both id and link', () => base({ type: 'image', image: { id: image(), link: 'https://example.com/a.jpg' } }), 100, 'image'],
    ['a link that is not a URL', () => base({ type: 'document', document: { link: 'not a url' } }), 100, "document['link']"],
    ['caption over 1024', () => base({ type: 'image', image: { id: image(), caption: 'c'.repeat(1025) } }), 100, "image['caption']"],
    ['caption on audio', () => base({ type: 'audio', audio: { link: 'https://example.com/a.ogg', caption: 'x' } }), 100, '"audio"'],
    ['caption on a sticker', () => base({ type: 'sticker', sticker: { link: 'https://example.com/a.webp', caption: 'x' } }), 100, '"sticker"'],
    ['a filename that is not a string', () => base({ type: 'document', document: { link: 'https://example.com/a.pdf', filename: 7 } }), 100, "document['filename']"],
    ['no buttons', () => buttonMessage({ buttons: [] }), 131009, "interactive['action']['buttons']"],
    ['four buttons', () => buttonMessage({ buttons: buttons(4) }), 131009, "interactive['action']['buttons']"],
    ['a button title over 20', () => buttonMessage({ buttons: buttons(2, (i) => ({ id: `b${i}`, title: 't'.repeat(20 + i) })) }), 131009, "interactive['action']['buttons'][1]['reply']['title']"],
    ['a button id over 256', () => buttonMessage({ buttons: buttons(1, () => ({ id: 'i'.repeat(257), title: 'T' })) }), 131009, "interactive['action']['buttons'][0]['reply']['id']"],
    ['duplicate button ids', () => buttonMessage({ buttons: buttons(2, (i) => ({ id: 'same', title: `T${i}` })) }), 131009, "interactive['action']['buttons'][1]['reply']['id']"],
    ['duplicate button titles', () => buttonMessage({ buttons: buttons(2, (i) => ({ id: `b${i}`, title: 'Same' })) }), 131009, "interactive['action']['buttons'][1]['reply']['title']"],
    ['a button without a title', () => buttonMessage({ buttons: buttons(1, () => ({ id: 'b' })) }), 100, "interactive['action']['buttons'][0]['reply']['title']"],
    ['a button that is not a reply', () => buttonMessage({ buttons: [{ type: 'url', reply: { id: 'a', title: 'A' } }] }), 100, "interactive['action']['buttons'][0]['type']"],
    ['interactive without body', () => base({ type: 'interactive', interactive: { type: 'button', action: { buttons: buttons(1) } } }), 100, "interactive['body']"],
    ['button body over 1024', () => buttonMessage({ buttons: buttons(1) }, { body: { text: 'b'.repeat(1025) } }), 100, "interactive['body']['text']"],
    ['header text over 60', () => buttonMessage({ buttons: buttons(1) }, { header: { type: 'text', text: 'h'.repeat(61) } }), 100, "interactive['header']['text']"],
    ['footer over 60', () => buttonMessage({ buttons: buttons(1) }, { footer: { text: 'f'.repeat(61) } }), 100, "interactive['footer']['text']"],
    ['a header image of unknown id', () => buttonMessage({ buttons: buttons(1) }, { header: { type: 'image', image: { id: '999' } } }), 100, "interactive['header']['image']['id']"],
    ['an unknown interactive type', () => base({ type: 'interactive', interactive: { type: 'carousel', action: {} } }), 100, "interactive['type']"],
    ['list button text over 20', () => listMessage({ button: 'b'.repeat(21), sections: [{ rows: rows(1) }] }), 131009, "interactive['action']['button']"],
    ['a list without button text', () => listMessage({ button: undefined, sections: [{ rows: rows(1) }] }), 100, "interactive['action']['button']"],
    ['eleven sections', () => listMessage({ sections: Array.from({ length: 11 }, (_, i) => ({ title: `S${i}`, rows: rows(1, `s${i}-`) })) }), 131009, "interactive['action']['sections']"],
    ['eleven rows in total', () => listMessage({ sections: [{ title: 'A', rows: rows(6, 'a') }, { title: 'B', rows: rows(5, 'b') }] }), 131009, "interactive['action']['sections']"],
    ['no sections', () => listMessage({ sections: [] }), 131009, "interactive['action']['sections']"],
    ['a section without rows', () => listMessage({ sections: [{ rows: [] }] }), 131009, "interactive['action']['sections'][0]['rows']"],
    ['a row title over 24', () => listMessage({ sections: [{ rows: [{ id: 'a', title: 't'.repeat(25) }] }] }), 131009, "interactive['action']['sections'][0]['rows'][0]['title']"],
    ['a row description over 72', () => listMessage({ sections: [{ rows: [{ id: 'a', title: 'A', description: 'd'.repeat(73) }] }] }), 131009, "interactive['action']['sections'][0]['rows'][0]['description']"],
    ['a row id over 200', () => listMessage({ sections: [{ rows: [{ id: 'i'.repeat(201), title: 'A' }] }] }), 131009, "interactive['action']['sections'][0]['rows'][0]['id']"],
    ['duplicate row ids across sections', () => listMessage({ sections: [{ title: 'A', rows: rows(2) }, { title: 'B', rows: rows(1) }] }), 131009, "interactive['action']['sections'][1]['rows'][0]['id']"],
    ['two sections, one without a title', () => listMessage({ sections: [{ title: 'A', rows: rows(1, 'a') }, { rows: rows(1, 'b') }] }), 100, "interactive['action']['sections'][1]['title']"],
    ['a section title over 24', () => listMessage({ sections: [{ title: 's'.repeat(25), rows: rows(1) }] }), 131009, "interactive['action']['sections'][0]['title']"],
    ['a list with an image header', () => listMessage({ sections: [{ rows: rows(1) }] }, { header: { type: 'image', image: { link: 'https://example.com/a.png' } } }), 100, "interactive['header']['type']"],
    ['cta display_text over 20', () => cta({ display_text: 'd'.repeat(21), url: 'https://example.com' }), 131009, "interactive['action']['parameters']['display_text']"],
    ['cta without url', () => cta({ display_text: 'Go' }), 100, "interactive['action']['parameters']['url']"],
    ['cta url that is not a URL', () => cta({ display_text: 'Go', url: 'example' }), 100, "interactive['action']['parameters']['url']"],
    ['cta with another action name', () => cta({ display_text: 'Go', url: 'https://example.com' }, 'open'), 100, "interactive['action']['name']"],
    ['latitude over 90', () => base({ type: 'location', location: { latitude: 90.5, longitude: 0 } }), 131009, "location['latitude']"],
    ['longitude under -180', () => base({ type: 'location', location: { latitude: 0, longitude: -180.1 } }), 131009, "location['longitude']"],
    ['latitude as a string', () => base({ type: 'location', location: { latitude: '52.1', longitude: 4 } }), 100, "location['latitude']"],
    ['no longitude', () => base({ type: 'location', location: { latitude: 1 } }), 100, "location['longitude']"],
    ['no contacts', () => base({ type: 'contacts', contacts: [] }), 100, 'contacts'],
    ['contacts as an object', () => base({ type: 'contacts', contacts: { name: { formatted_name: 'A' } } }), 100, 'contacts'],
    ['a contact without formatted_name', () => base({ type: 'contacts', contacts: [{ name: { formatted_name: 'A' } }, { name: { first_name: 'B' } }] }), 100, "contacts[1]['name']['formatted_name']"],
    ['a contact without name', () => base({ type: 'contacts', contacts: [{ phones: [] }] }), 100, "contacts[0]['name']"],
    ['a reaction without message_id', () => base({ type: 'reaction', reaction: { emoji: '👍' } }), 100, "reaction['message_id']"],
    ['a reaction to a malformed id', () => base({ type: 'reaction', reaction: { message_id: 'abc', emoji: '👍' } }), 100, "reaction['message_id']"],
    ['a reaction without emoji', () => base({ type: 'reaction', reaction: { message_id: newWamid(TO) } }), 100, "reaction['emoji']"],
    ['a reaction with text', () => base({ type: 'reaction', reaction: { message_id: newWamid(TO), emoji: 'ok' } }), 131009, "reaction['emoji']"],
    ['a reaction with two emoji', () => base({ type: 'reaction', reaction: { message_id: newWamid(TO), emoji: '👍👍' } }), 131009, "reaction['emoji']"],
    ['a context without message_id', () => base({ type: 'text', text: { body: 'x' }, context: {} }), 100, "context['message_id']"],
    ['a context with a malformed id', () => base({ type: 'text', text: { body: 'x' }, context: { message_id: 'nope' } }), 100, "context['message_id']"],
  ];

  it.each(refusals)('refuses %s', async (_what, make, code, field) => {
    await uploaded(PNG, 'image/png');
    const body = make();
    const { status, body: response } = await send(body);
    expect(status).toBe(400);
    expectMetaError(response, code, field);
    expect(response.error.message).toMatch(code === 131009 ? /^\(#131009\) Parameter value is not valid$/ : /^\(#100\) /);
    // Refused sends are recorded too, with the exact body.
    const last = sandbox.sent().at(-1)!;
    expect(last.body).toEqual(body);
    expect(last.outcome).toEqual({ result: 'failed', status: 400, error: response.error });
  });

  it("refuses a media id that came in with a user's message (only uploads are yours to send)", async () => {
    sandbox.setWebhookUrl(receiverUrl);
    const { body } = await controlJson('inbound', { from: TO, type: 'image' });
    const { status, body: response } = await send(base({ type: 'image', image: { id: body.media.id } }));
    expect(status).toBe(400);
    expectMetaError(response, 100, "image['id']");
  });
});

describe('users with a username (business-scoped user ids)', () => {
  const text = (extra: Record<string, unknown>) => ({ messaging_product: 'whatsapp', type: 'text', text: { body: 'hi' }, ...extra });

  it('sends to `recipient` and answers with user_id, not wa_id', async () => {
    const { status, body } = await send(text({ recipient: USER }));
    expect(status).toBe(200);
    expect(body).toEqual({
      messaging_product: 'whatsapp',
      contacts: [{ input: USER, user_id: USER }],
      messages: [{ id: expect.stringMatching(/^wamid\./) }],
    });
    const [sent] = sandbox.sent(USER);
    expect(sent).toMatchObject({ to: undefined, waId: undefined, userId: USER, body: text({ recipient: USER }) });
    expect(sandbox.sent(TO)).toEqual([]);
    const res = await control(`sent?to=${USER}`);
    expect(((await res.json()) as any).data).toHaveLength(1);
  });

  it('lets `to` win when both are given', async () => {
    const { body } = await send(text({ to: TO, recipient: USER }));
    expect(body.contacts).toEqual([{ input: TO, wa_id: TO }]);
    expect(sandbox.sent(TO)[0]!.userId).toBeUndefined();
    expect(sandbox.sent(USER)).toEqual([]);
  });

  it('refuses a malformed user id, and a send with neither', async () => {
    for (const recipient of ['13491208655302741918', 'us.123', 'US.', 42]) {
      const { status, body } = await send(text({ recipient }));
      expect(status).toBe(400);
      expectMetaError(body, 100, 'recipient');
    }
    const neither = await send(text({}));
    expectMetaError(neither.body, 100, 'to');
  });

  it('accepts ENT parent ids', async () => {
    expect((await send(text({ recipient: 'US.ENT.11815799212886844830' }))).status).toBe(200);
  });

  it('reports statuses of a send to a user id with recipient_user_id', async () => {
    sandbox.setWebhookUrl(receiverUrl);
    const { body } = await send(text({ recipient: USER }));
    await sandbox.webhooksIdle();
    const values = received.map((r) => r.body.entry[0].changes[0].value).filter((v) => v.statuses?.[0]?.id === body.messages[0].id);
    expect(values.map((v) => v.statuses[0].status).sort()).toEqual(['delivered', 'read', 'sent']);
    for (const value of values) {
      expect(value.contacts).toEqual([{ user_id: USER }]);
      expect(value.statuses[0].recipient_user_id).toBe(USER);
      expect(value.statuses[0]).not.toHaveProperty('recipient_id');
    }
  });

  it('refuses authentication templates to a user id with 131062', async () => {
    const added = await controlJson('templates', seedAuthenticationTemplate());
    expect(added.status).toBe(200);
    const template = {
      messaging_product: 'whatsapp',
      type: 'template',
      template: {
        name: 'verify_code',
        language: { code: 'en_US' },
        components: [
          { type: 'body', parameters: [{ type: 'text', text: '123456' }] },
          { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: '123456' }] },
        ],
      },
    };
    const refused = await send({ ...template, recipient: USER });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: 131062,
      message: '(#131062) Business-scoped User ID recipients are not supported for this message',
    });
    expectMetaError(refused.body, 131062);
    const ok = await send({ ...template, to: TO });
    expect(ok.status).toBe(200);
    expect(ok.body.messages[0].message_status).toBe('accepted');
    // Other templates go to user ids.
    const hello = await send({ messaging_product: 'whatsapp', recipient: USER, type: 'template', template: { name: 'hello_world', language: { code: 'en_US' } } });
    expect(hello.status).toBe(200);
  });

  it('queues faults for a user id', async () => {
    sandbox.addFault({ to: USER, code: 131047 });
    expect((await send(text({ to: TO }))).status).toBe(200);
    expect((await send(text({ recipient: USER }))).body.error.code).toBe(131047);
    expect((await send(text({ recipient: USER }))).status).toBe(200);
  });

  it('refuses a malformed template in the control route', async () => {
    const res = await controlJson('templates', { ...seedAuthenticationTemplate(), category: 'OTP' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('category');
  });
});

describe('read receipts and typing indicators', () => {
  async function inboundWamid(): Promise<string> {
    sandbox.setWebhookUrl(receiverUrl);
    const { status, body } = await controlJson('inbound', { from: TO, text: 'hello' });
    expect(status).toBe(202);
    return body.wamid;
  }

  it('marks a received message read, with or without a typing indicator, and records both', async () => {
    const wamid = await inboundWamid();
    const read = { messaging_product: 'whatsapp', status: 'read', message_id: wamid };
    const typing = { ...read, typing_indicator: { type: 'text' } };
    expect(await send(read)).toEqual({ status: 200, body: { success: true } });
    expect(await send(typing)).toEqual({ status: 200, body: { success: true } });

    const { body } = await controlJson('reads');
    expect(body.data).toEqual([
      { at: clock, phoneNumberId: SANDBOX_PHONE_NUMBER_ID, messageId: wamid, body: read, outcome: { result: 'accepted', status: 200 } },
      { at: clock, phoneNumberId: SANDBOX_PHONE_NUMBER_ID, messageId: wamid, typingIndicator: 'text', body: typing, outcome: { result: 'accepted', status: 200 } },
    ]);
    expect(sandbox.reads()).toHaveLength(2);
    // Read receipts are not sends.
    expect(sandbox.sent()).toEqual([]);
  });

  it('knows wamids made by the sandbox’s payloads (lumen trigger)', async () => {
    const { status } = await send({ messaging_product: 'whatsapp', status: 'read', message_id: newWamid(TO) });
    expect(status).toBe(200);
  });

  it('refuses unknown, malformed and missing message ids, and other statuses and indicators', async () => {
    const wamid = await inboundWamid();
    const cases: [Record<string, unknown>, string][] = [
      [{ message_id: 'wamid.HBgLMTU1NTAwMDExMTEVAgARGBJBQkNERUY=' }, 'message_id'],
      [{ message_id: 'not-a-wamid' }, 'message_id'],
      [{}, 'message_id'],
      [{ message_id: 42 }, 'message_id'],
      [{ message_id: wamid, status: 'delivered' }, 'status'],
      [{ message_id: wamid, typing_indicator: { type: 'audio' } }, "typing_indicator['type']"],
      [{ message_id: wamid, typing_indicator: 'text' }, 'typing_indicator'],
      [{ message_id: wamid, messaging_product: 'sms' }, 'messaging_product'],
    ];
    for (const [extra, field] of cases) {
      const body = { messaging_product: 'whatsapp', status: 'read', ...extra };
      const { status, body: response } = await send(body);
      expect(status, JSON.stringify(extra)).toBe(400);
      expectMetaError(response, 100, field);
    }
    const reads = sandbox.reads();
    expect(reads).toHaveLength(cases.length);
    expect(reads.every((r) => r.outcome.result === 'failed')).toBe(true);
    // An outbound message is not one this number received.
    const sent = await send({ messaging_product: 'whatsapp', to: TO, text: { body: 'x' } });
    expect((await send({ messaging_product: 'whatsapp', status: 'read', message_id: sent.body.messages[0].id })).status).toBe(400);
  });

  it('knows a wamid given to an inbound message, until a reset', async () => {
    sandbox.setWebhookUrl(receiverUrl);
    const wamid = 'wamid.HBgLMTU1NTAwMDExMTEVAgASGBRDVVNUT01JRDAwMDAwMDAwMDAwMQA=';
    expect((await controlJson('inbound', { from: TO, text: 'hello', wamid })).body.wamid).toBe(wamid);
    const read = { messaging_product: 'whatsapp', status: 'read', message_id: wamid };
    expect((await send(read)).status).toBe(200);
    await sandbox.webhooksIdle();
    sandbox.reset();
    expect((await send(read)).status).toBe(400);
  });
});

describe('inbound media messages', () => {
  function verify(delivery: Received): void {
    const expected = `sha256=${createHmac('sha256', SANDBOX_APP_SECRET).update(delivery.raw).digest('hex')}`;
    expect(delivery.headers['x-hub-signature-256']).toBe(expected);
  }

  async function postInbound(spec: Record<string, unknown>): Promise<{ wamid: string; media: any; message: any; value: any }> {
    sandbox.setWebhookUrl(receiverUrl);
    const { status, body } = await controlJson('inbound', spec);
    expect(status, JSON.stringify(body)).toBe(202);
    await sandbox.webhooksIdle();
    const delivery = received.find((r) => r.body.entry[0].changes[0].value.messages?.[0]?.id === body.wamid)!;
    expect(delivery).toBeDefined();
    verify(delivery);
    const value = delivery.body.entry[0].changes[0].value;
    return { wamid: body.wamid, media: body.media, message: value.messages[0], value };
  }

  async function fetchMedia(id: string): Promise<{ info: any; bytes: Buffer }> {
    const info = await graph(`/${V}/${id}`);
    expect(info.status).toBe(200);
    const file = await download(info.body.url);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe(info.body.mime_type);
    return { info: info.body, bytes: file.bytes };
  }

  it.each([
    ['image', 'image/png', (b: Buffer) => b.subarray(1, 4).toString() === 'PNG'],
    ['video', 'video/mp4', (b: Buffer) => b.subarray(4, 8).toString() === 'ftyp'],
    ['audio', 'audio/ogg; codecs=opus', (b: Buffer) => b.subarray(0, 4).toString() === 'OggS'],
    ['document', 'application/pdf', (b: Buffer) => b.subarray(0, 5).toString() === '%PDF-' && b.toString('latin1').trimEnd().endsWith('%%EOF')],
    ['sticker', 'image/webp', (b: Buffer) => b.subarray(0, 4).toString() === 'RIFF' && b.subarray(8, 12).toString() === 'WEBP'],
  ] as const)('posts a signed %s message whose media can be fetched', async (type, mimeType, looksRight) => {
    const captioned = type === 'image' || type === 'video' || type === 'document';
    const { message, media, value } = await postInbound({ from: TO, name: 'Ana', type, ...(captioned ? { caption: `A ${type}` } : {}) });
    expect(value.contacts).toEqual([{ profile: { name: 'Ana' }, wa_id: TO }]);
    expect(message).toMatchObject({ from: TO, type, timestamp: expect.stringMatching(/^\d+$/) });
    const object = message[type];
    expect(object).toMatchObject({ id: media.id, mime_type: mimeType, sha256: expect.any(String) });
    expect(Object.keys(object).sort()).toEqual(
      [
        'id',
        'mime_type',
        'sha256',
        ...(captioned ? ['caption'] : []),
        ...(type === 'document' ? ['filename'] : []),
        ...(type === 'audio' ? ['voice'] : []),
        ...(type === 'sticker' ? ['animated'] : []),
      ].sort(),
    );
    if (captioned) expect(object.caption).toBe(`A ${type}`);
    if (type === 'document') expect(object.filename).toBe('sandbox.pdf');
    if (type === 'audio') expect(object.voice).toBe(true);

    const { info, bytes } = await fetchMedia(media.id);
    expect(looksRight(bytes)).toBe(true);
    // The webhook carries base64 of the SHA-256; the media object, hex.
    expect(object.sha256).toBe(sha256Base64(bytes));
    expect(info).toMatchObject({ id: media.id, mime_type: mimeType, sha256: sha256Hex(bytes), file_size: bytes.length });
    expect(media).toMatchObject({ id: media.id, mimeType, sha256: sha256Hex(bytes), fileSize: bytes.length, origin: 'inbound' });
  });

  it('makes the same default file each time', async () => {
    const a = await postInbound({ from: TO, type: 'document' });
    const b = await postInbound({ from: TO, type: 'document' });
    expect(a.media.id).not.toBe(b.media.id);
    expect(a.message.document.sha256).toBe(b.message.document.sha256);
  });

  it('uses bytes, a MIME type and a filename given in the request', async () => {
    const bytes = Buffer.from('Name,Total\nAna,12\n');
    const { message, media } = await postInbound({
      from: TO,
      type: 'document',
      data: bytes.toString('base64'),
      mimeType: 'text/plain',
      filename: 'totals.csv',
      text: 'Totals',
    });
    expect(message.document).toEqual({ caption: 'Totals', filename: 'totals.csv', mime_type: 'text/plain', sha256: sha256Base64(bytes), id: media.id });
    expect((await fetchMedia(media.id)).bytes.equals(bytes)).toBe(true);

    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
    const image = await postInbound({ from: TO, type: 'image', data: jpeg.toString('base64'), mimeType: 'image/jpeg' });
    expect(image.message.image).toEqual({ mime_type: 'image/jpeg', sha256: sha256Base64(jpeg), id: image.media.id });
    expect((await fetchMedia(image.media.id)).bytes.equals(jpeg)).toBe(true);
  });

  it('the media of an inbound message expires and faults like any other', async () => {
    const { media } = await postInbound({ from: TO, type: 'image' });
    const { url } = (await graph(`/${V}/${media.id}`)).body;
    await controlJson('media/faults', { id: media.id });
    expect((await download(url)).status).toBe(500);
    expect((await download(url)).status).toBe(200);
    await controlJson('media/expire', {});
    expect((await download(url)).status).toBe(404);
  });

  it('posts a message from a user known only by user id', async () => {
    const { message, value, media } = await postInbound({ userId: USER, name: 'Bo', type: 'image', caption: 'hi' });
    expect(value.contacts).toEqual([{ profile: { name: 'Bo' }, user_id: USER }]);
    expect(message).not.toHaveProperty('from');
    expect(message.from_user_id).toBe(USER);
    expect(message.image).toMatchObject({ id: media.id, caption: 'hi' });

    const textOnly = await postInbound({ userId: USER, text: 'hello' });
    expect(textOnly.message).toMatchObject({ from_user_id: USER, type: 'text', text: { body: 'hello' } });
    expect(textOnly.value.contacts[0]).not.toHaveProperty('wa_id');
    // And the business can mark it read.
    expect((await send({ messaging_product: 'whatsapp', status: 'read', message_id: textOnly.wamid })).status).toBe(200);

    const both = await postInbound({ from: TO, userId: USER, text: 'both' });
    expect(both.value.contacts).toEqual([{ profile: { name: 'Sandbox User' }, wa_id: TO, user_id: USER }]);
    expect(both.message).toMatchObject({ from: TO, from_user_id: USER });
  });

  it('keeps text and other types as they were', async () => {
    const { message } = await postInbound({ from: TO, type: 'location', text: 'Here' });
    expect(message.location).toMatchObject({ name: 'Here' });
    expect(sandbox.media()).toEqual([]);
  });

  it('creates media through the handle too', async () => {
    sandbox.setWebhookUrl(receiverUrl);
    const delivery = sandbox.sendInbound([{ from: TO, type: 'sticker' }])!;
    await sandbox.webhooksIdle();
    const message = JSON.parse(delivery.body).entry[0].changes[0].value.messages[0];
    expect(sandbox.media()).toEqual([expect.objectContaining({ id: message.sticker.id, mimeType: 'image/webp', origin: 'inbound' })]);
    expect((await graph(`/${V}/${message.sticker.id}`)).status).toBe(200);
  });

  it('refuses malformed inbound requests', async () => {
    sandbox.setWebhookUrl(receiverUrl);
    const cases: [Record<string, unknown>, string][] = [
      [{ type: 'text' }, 'from'],
      [{ userId: 'user-1' }, 'userId'],
      [{ from: 'abc' }, 'from'],
      [{ from: TO, type: 'gif' }, 'type'],
      [{ from: TO, type: 'text', data: 'AAAA' }, 'data'],
      [{ from: TO, type: 'image', data: '***' }, 'data'],
      [{ from: TO, type: 'image', mimeType: 'application/pdf' }, 'mimeType'],
      [{ from: TO, type: 'sticker', mimeType: 'not a type' }, 'mimeType'],
      [{ from: TO, type: 'image', caption: 5 }, 'caption'],
    ];
    for (const [body, mention] of cases) {
      const res = await controlJson('inbound', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.message).toContain(mention);
    }
    expect(sandbox.media()).toEqual([]);
    sandbox.setWebhookUrl(undefined);
    expect((await controlJson('inbound', { from: TO, type: 'image' })).status).toBe(409);
  });
});
