/**
 * The relay's bad-input corpus: a seeded generator of HTTP requests a webhook endpoint on the internet gets (bad,
 * missing and malformed signatures, truncated bodies, huge arrays, wrong types, deep nesting, odd encodings, wrong
 * content types, oversized bodies, unknown integrations, garbage handshakes, broken HTTP, slowloris connections),
 * with valid signed deliveries interleaved, and a runner that sends them at a relay and checks its answers.
 *
 * Used by `scripts/fuzz-relay.mjs` (≥ 10,000 requests) and `test/integration/relay-fuzz.test.ts` (a few hundred):
 * one corpus. Plain ESM with no dependency on lumen's code, so it checks the relay from the outside (the HMAC here
 * is computed independently). Only ever talks to the URL it is given.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;
const WEBHOOK_PREFIX = '/webhooks/whatsapp/';

/** Where "Meta" posts from (via X-Forwarded-For, which the relay trusts from loopback): never penalised by the fuzz. */
export const META_CLIENT_IP = '31.13.64.7';
/** One fixed attacker address, so the relay's penalty for repeated bad signatures gets exercised too. */
const ATTACKER_IP = '203.0.113.66';

// ---------------------------------------------------------------------------------------------------------------
// Seeded randomness (mulberry32): the same seed gives the same corpus.

export function makeRandom(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    range: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (list) => list[Math.floor(next() * list.length)],
    chance: (p) => next() < p,
    bytes: (n) => {
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
      return out;
    },
    hex: (n) => {
      let s = '';
      for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(next() * 16)];
      return s;
    },
    digits: (n) => {
      let s = String(1 + Math.floor(next() * 9));
      for (let i = 1; i < n; i++) s += String(Math.floor(next() * 10));
      return s;
    },
    ascii: (n) => {
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(32 + Math.floor(next() * 95));
      return s;
    },
  };
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// Bodies

/** HMAC-SHA256 of the exact bytes, as Meta's X-Hub-Signature-256 carries it. */
export function metaSignature(body, appSecret) {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

/** JSON with every non-ASCII char as \uXXXX (UTF-16 units), the way Meta serialises webhook bodies. */
export function escapeLikeMeta(text) {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const TEXTS = [
  'hi', 'Olá, tudo bem?', 'Grüße aus Köln', '你好，世界', 'مرحبا بالعالم', 'שלום', '👍', '👨‍👩‍👧‍👦 family', 'e\u0301 combining',
  'zero\u200bwidth', 'line\u2028separator', 'tab\there', 'quote " and \\ backslash', '<script>alert(1)</script>', "'; DROP TABLE interactions; --",
  '\u0000nul escaped', 'lone \ud800 surrogate', 'x'.repeat(4096),
];

function textMessage(r, wamid, options = {}) {
  const from = options.from ?? `1555${r.digits(7)}`;
  return {
    message: { from, id: wamid, timestamp: String(1_700_000_000 + r.int(100_000_000)), type: 'text', text: { body: options.text ?? r.pick(TEXTS) } },
    contact: { profile: { name: r.pick(['Ana', 'Zoë', '王', 'Ωmega', '']) }, wa_id: from },
  };
}

/** A Meta-shaped delivery object with the given messages (and statuses) for one number. */
function deliveryObject(ctx, messages, statuses = []) {
  const value = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: '15550104242', phone_number_id: ctx.phoneNumberId },
  };
  if (messages.length > 0) {
    value.contacts = messages.map((m) => m.contact);
    value.messages = messages.map((m) => m.message);
  }
  if (statuses.length > 0) value.statuses = statuses;
  return { object: 'whatsapp_business_account', entry: [{ id: ctx.wabaId, changes: [{ value, field: 'messages' }] }] };
}

function serialise(object, escaped = true) {
  const json = JSON.stringify(object);
  return Buffer.from(escaped ? escapeLikeMeta(json) : json, 'utf8');
}

/** A valid delivery of 1–3 new messages: its bytes and the wamids it carries. */
function validDelivery(ctx, r) {
  const count = r.chance(0.8) ? 1 : r.range(2, 3);
  const wamids = Array.from({ length: count }, () => ctx.newWamid());
  const statuses = r.chance(0.2) ? [{ id: `wamid.OUT${r.hex(10)}`, status: r.pick(['sent', 'delivered', 'read']), timestamp: '1700000000', recipient_id: '15550001111' }] : [];
  const body = serialise(deliveryObject(ctx, wamids.map((w) => textMessage(r, w)), statuses), r.chance(0.7));
  return { body, wamids };
}

/** A plausible body that nobody valid signed. */
function plausibleBody(ctx, r) {
  return serialise(deliveryObject(ctx, [textMessage(r, `wamid.BAD${r.hex(12)}`)]));
}

/** Replaces one random node of a JSON value with a value of the wrong type. */
function corrupt(r, value, depth = 0) {
  const wrong = () =>
    r.pick([
      null, true, false, 0, -1, 1e308, -0, 3.5, '', ' ', '0', 'null', '\u0000', [], [null], {}, { 0: 1 }, 'x'.repeat(r.range(1, 300)),
      Number.MAX_SAFE_INTEGER + 2, [[[]]], { __proto__: { id: 'x' } }, { constructor: 'x', toString: 1, hasOwnProperty: 2 },
    ]);
  if (value === null || typeof value !== 'object' || depth > 8 || r.chance(0.15)) return wrong();
  const copy = Array.isArray(value) ? [...value] : { ...value };
  const keys = Object.keys(copy);
  if (keys.length === 0) return wrong();
  const key = r.pick(keys);
  if (r.chance(0.1)) delete copy[key];
  else copy[key] = corrupt(r, copy[key], depth + 1);
  return copy;
}

/** A JSON text `levels` deep, built without recursion. */
function nested(levels, open, close, inner = '1') {
  return open.repeat(levels) + inner + close.repeat(levels);
}

// ---------------------------------------------------------------------------------------------------------------
// Categories. `make(ctx, r)` returns one case:
//   { method, path, headers, body?, allowed: number[], expectText?, valid?: wamid[], raw?: Buffer, allowReset? }
// `valid` cases are acknowledged deliveries: retried on 429 like Meta would, must end 200 and be stored.

const post = (ctx, body, headers, rest = {}) => ({
  method: 'POST',
  path: ctx.webhookPath,
  headers: { 'content-type': 'application/json', 'x-forwarded-for': ctx.attackerIp(), ...headers },
  body,
  ...rest,
});
const signedPost = (ctx, body, allowed, extra = {}) => post(ctx, body, { 'x-hub-signature-256': metaSignature(body, ctx.appSecret) }, { allowed, ...extra });
const validPost = (ctx, body, wamids, headers = {}) =>
  post(ctx, body, { 'x-hub-signature-256': metaSignature(body, ctx.appSecret), 'x-forwarded-for': META_CLIENT_IP, ...headers }, { allowed: [200], valid: wamids });

/** The refusals a bad signature may get: 401, or 429 once the client is refused unchecked for too many of them. */
const SIG_REFUSED = [401, 429];

export const CATEGORIES = [
  {
    name: 'valid delivery',
    weight: 8,
    make(ctx, r) {
      const { body, wamids } = validDelivery(ctx, r);
      return validPost(ctx, body, wamids);
    },
  },
  {
    name: 'signature missing',
    weight: 5,
    make: (ctx, r) => post(ctx, plausibleBody(ctx, r), {}, { allowed: SIG_REFUSED }),
  },
  {
    name: 'signature malformed',
    weight: 7,
    make(ctx, r) {
      const hex = r.hex(64);
      const value = r.pick([
        '', 'sha256=', 'sha256=zz', `sha1=${r.hex(40)}`, `sha256=${r.hex(63)}`, `sha256=${r.hex(65)}`, `SHA256=${hex}`, hex,
        `sha256 = ${hex}`, `sha256=${hex},sha256=${hex}`, `sha256=${'g'.repeat(64)}`, `sha512=${r.hex(128)}`, `sha256=${hex.slice(0, 32)}`,
        r.ascii(r.range(1, 200)), r.bytes(r.range(1, 64)).toString('latin1').replace(/[^\t\x20-\x7e\x80-\xff]/g, 'x'), `sha256=${'0'.repeat(8000)}`,
      ]);
      const headers = r.chance(0.1) ? { 'x-hub-signature-256': [value, metaSignature(Buffer.from('x'), ctx.appSecret)] } : { 'x-hub-signature-256': value };
      return post(ctx, plausibleBody(ctx, r), headers, { allowed: SIG_REFUSED });
    },
  },
  {
    name: 'signature wrong',
    weight: 7,
    make(ctx, r) {
      const body = plausibleBody(ctx, r);
      const signature = r.pick([
        () => `sha256=${r.hex(64)}`,
        () => metaSignature(body, `${ctx.appSecret}x`),
        () => metaSignature(body, ctx.appSecret.slice(0, -1)),
        () => metaSignature(body, ''),
        () => metaSignature(Buffer.concat([body, Buffer.from('\n')]), ctx.appSecret),
        () => metaSignature(plausibleBody(ctx, r), ctx.appSecret),
        () => `sha256=${createHmac('sha1', ctx.appSecret).update(body).digest('hex').padEnd(64, '0')}`,
      ])();
      return post(ctx, body, { 'x-hub-signature-256': signature }, { allowed: SIG_REFUSED });
    },
  },
  {
    name: 'signature in upper case (valid)',
    weight: 1,
    make(ctx, r) {
      const { body, wamids } = validDelivery(ctx, r);
      const c = validPost(ctx, body, wamids);
      c.headers['x-hub-signature-256'] = `sha256=${metaSignature(body, ctx.appSecret).slice(7).toUpperCase()}`;
      return c;
    },
  },
  {
    name: 'tampered after signing',
    weight: 5,
    make(ctx, r) {
      const body = plausibleBody(ctx, r);
      const signature = metaSignature(body, ctx.appSecret);
      const tampered = r.pick([
        () => {
          const copy = Buffer.from(body);
          const i = r.int(copy.length);
          copy[i] = copy[i] ^ (1 + r.int(255));
          return copy;
        },
        () => Buffer.concat([body, Buffer.from(' ')]),
        () => Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 2)),
        () => body.subarray(1),
        () => Buffer.concat([Buffer.from('\ufeff'), body]),
      ])();
      return post(ctx, tampered, { 'x-hub-signature-256': signature }, { allowed: SIG_REFUSED });
    },
  },
  {
    name: 'truncated, signed',
    weight: 5,
    make(ctx, r) {
      const { body } = validDelivery(ctx, r);
      const cut = body.subarray(0, r.int(body.length)); // a strict prefix of a JSON object is never JSON
      return signedPost(ctx, cut, [400, 429]);
    },
  },
  {
    name: 'truncated, signature of the whole',
    weight: 3,
    make(ctx, r) {
      const { body } = validDelivery(ctx, r);
      return post(ctx, body.subarray(0, r.int(body.length)), { 'x-hub-signature-256': metaSignature(body, ctx.appSecret) }, { allowed: SIG_REFUSED });
    },
  },
  {
    name: 'wrong types',
    weight: 10,
    make(ctx, r) {
      const base = deliveryObject(ctx, [textMessage(r, `wamid.TYPES${r.hex(12)}`)], [{ id: `wamid.OUT${r.hex(8)}`, status: 'read', timestamp: '1700000000', recipient_id: '1' }]);
      let value = base;
      for (let i = r.range(1, 3); i > 0; i--) value = corrupt(r, value);
      const extra = r.pick([
        null, 'null', '1', '"string"', 'true', '[]', '{}', '[{"object":"whatsapp_business_account"}]', '{"object":"whatsapp_business_account","entry":{}}',
        '{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":123}}}]}]}',
        '{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"PNI"},"messages":[{"id":{},"from":[],"type":7}]}}]}]}',
        '1e99999', '-0', '"\\ud800"', '{"__proto__":{"object":"whatsapp_business_account"},"entry":[1]}',
      ]);
      const text = extra === null ? JSON.stringify(value) : extra.replace('PNI', ctx.phoneNumberId);
      return signedPost(ctx, Buffer.from(text === undefined ? 'null' : text), [200, 429]);
    },
  },
  {
    name: 'huge array (< 3 MiB)',
    weight: 0.4,
    make(ctx, r) {
      const variant = r.int(4);
      let text;
      if (variant === 0) text = `{"object":"whatsapp_business_account","entry":[${Array(r.range(200_000, 1_400_000)).fill('0').join(',')}]}`;
      else if (variant === 1) {
        const items = Array(r.range(100_000, 700_000)).fill('{}').join(',');
        text = `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"${ctx.phoneNumberId}"},"messages":[${items}]}}]}]}`;
      } else if (variant === 2) {
        const statuses = Array.from({ length: r.range(5_000, 12_000) }, (_, i) => `{"id":"wamid.HUGE${i}","status":"read","timestamp":"1700000000","recipient_id":"1"}`).join(',');
        text = `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"${ctx.phoneNumberId}"},"statuses":[${statuses}]}}]}]}`;
      } else {
        const contacts = Array.from({ length: r.range(10_000, 40_000) }, (_, i) => `{"wa_id":"${i}","profile":{"name":"n${i}"}}`).join(',');
        text = `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"${ctx.phoneNumberId}"},"contacts":[${contacts}],"messages":[{"id":"wamid.HUGEC${r.hex(8)}","from":"123","type":"text","text":{"body":"x"}}]}}]}]}`;
      }
      return signedPost(ctx, Buffer.from(text), [200, 429]);
    },
  },
  {
    name: 'deep nesting',
    weight: 0.8,
    make(ctx, r) {
      const levels = r.pick([1_000, 10_000, 50_000]);
      const variant = r.int(5);
      if (variant === 0) return signedPost(ctx, Buffer.from('['.repeat(levels)), [400, 429]); // never closed
      if (variant === 1) return signedPost(ctx, Buffer.from(nested(levels, '[', ']')), [200, 429]);
      if (variant === 2) return signedPost(ctx, Buffer.from(nested(levels, '{"a":', '}')), [200, 429]);
      // Deep inside the delivery's structure, where the parser walks…
      if (variant === 3) {
        const text = `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"${ctx.phoneNumberId}"},"statuses":${nested(levels, '[', ']')}}}]}]}`;
        return signedPost(ctx, Buffer.from(text), [200, 429]);
      }
      // …and inside a valid message, which is stored with its raw JSON: it must be kept, or refused with a 4xx.
      const wamid = ctx.newWamid();
      const { message, contact } = textMessage(r, wamid);
      const raw = JSON.stringify(deliveryObject(ctx, [{ message: { ...message, extra: '@DEEP@' }, contact }]));
      return signedPost(ctx, Buffer.from(raw.replace('"@DEEP@"', nested(levels, '[', ']'))), [200, 400, 422, 429]);
    },
  },
  {
    name: 'odd encodings',
    weight: 6,
    make(ctx, r) {
      const variant = r.int(9);
      const wamid = ctx.newWamid();
      const object = deliveryObject(ctx, [textMessage(r, wamid, { text: 'Olá 👍 ünïcødé' })]);
      const json = JSON.stringify(object);
      switch (variant) {
        case 0: // UTF-16LE with a BOM
          return signedPost(ctx, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, 'utf16le')]), [400, 429]);
        case 1: {
          // UTF-16BE, no BOM
          const le = Buffer.from(json, 'utf16le');
          for (let i = 0; i < le.length; i += 2) [le[i], le[i + 1]] = [le[i + 1], le[i]];
          return signedPost(ctx, le, [400, 429]);
        }
        case 2: // UTF-8 BOM before the JSON
          return signedPost(ctx, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]), [400, 429]);
        case 3: // latin1 bytes inside strings: not UTF-8, but the JSON structure is intact → stored with U+FFFD
          return validPost(ctx, Buffer.from(json, 'latin1'), [wamid]);
        case 4: {
          // Invalid UTF-8 sequences inside the text: overlong, lone continuation, CESU surrogate, 0xFF
          const bad = Buffer.from([0xc0, 0xaf, 0x80, 0xed, 0xa0, 0x80, 0xff, 0xfe]);
          const [before, after] = json.split('Olá');
          return validPost(ctx, Buffer.concat([Buffer.from(before), bad, Buffer.from(after)]), [wamid]);
        }
        case 5: // a raw NUL byte: JSON forbids control characters in strings
          return signedPost(ctx, Buffer.from(json.replace('Olá', 'Ol\u0000á')), [400, 429]);
        case 6: // escaped NUL and lone surrogates: valid JSON, stored
          return validPost(ctx, Buffer.from(json.replace('Olá', 'Ol\\u0000\\ud800\\udfff\\udc00á')), [wamid]);
        case 7: // NUL bytes after the document
          return signedPost(ctx, Buffer.concat([Buffer.from(json), Buffer.alloc(r.range(1, 16))]), [400, 429]);
        default: // raw UTF-8, not escaped (a proxy re-encoded it, but the signature is over these bytes)
          return validPost(ctx, Buffer.from(json, 'utf8'), [wamid]);
      }
    },
  },
  {
    name: 'content types',
    weight: 4,
    make(ctx, r) {
      const { body, wamids } = validDelivery(ctx, r);
      const type = r.pick([
        undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/json; charset=latin1',
        'application/json; charset=utf-16', 'application/octet-stream', `application/${'x'.repeat(2000)}`, 'APPLICATION/JSON',
        'application/json;;;', 'text/html; charset=utf-8', 'garbage', '', 'application/json, text/plain',
      ]);
      // The signature is what counts, whatever the type says; a header that is not a media type at all may get 415.
      const invalidMediaType = type !== undefined && !/^[\w.+-]+\/[\w.+-]+\s*(;.*)?$/.test(type);
      const c = invalidMediaType ? signedPost(ctx, body, [200, 415]) : validPost(ctx, body, wamids);
      if (type === undefined) delete c.headers['content-type'];
      else c.headers['content-type'] = type;
      return c;
    },
  },
  {
    name: 'oversized (> 3 MiB)',
    weight: 0.4,
    make(ctx, r) {
      const size = MAX_BODY_BYTES + r.range(1, 256 * 1024);
      const body = Buffer.alloc(size, 0x20);
      body.write('{"object":"whatsapp_business_account","entry":[]}');
      const c = signedPost(ctx, body, [413], { allowReset: true });
      if (r.chance(0.3)) c.chunked = true; // no content-length: the limit must hold while streaming
      return c;
    },
  },
  {
    name: 'unknown integration',
    weight: 5,
    make(ctx, r) {
      const id = r.pick([
        `wa_${r.hex(32)}`, '', 'wa_', r.ascii(r.range(1, 40)).replace(/[?#%/\\ ]/g, '_'), `${ctx.integrationId}x`, ctx.integrationId.slice(0, -1),
        ctx.integrationId.toUpperCase(), '..%2F..%2Fhealthz', '%00', '%E2%80%AE', 'x'.repeat(4000), encodeURIComponent('wa_ü'), `${ctx.integrationId}%00`,
      ]);
      const body = plausibleBody(ctx, r);
      const method = r.chance(0.7) ? 'POST' : 'GET';
      return {
        method,
        path: `${WEBHOOK_PREFIX}${id}${method === 'GET' ? '?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1' : ''}`,
        headers: { 'content-type': 'application/json', 'x-forwarded-for': ctx.attackerIp(), 'x-hub-signature-256': metaSignature(body, ctx.appSecret) },
        body: method === 'POST' ? body : undefined,
        allowed: [400, 404, 414], // 414: an id over the router's parameter length
      };
    },
  },
  {
    name: 'handshake garbage',
    weight: 6,
    make(ctx, r) {
      const challenge = r.pick([String(r.int(1e9)), r.ascii(r.range(1, 64)), 'x'.repeat(r.range(1000, 6000)), '', '<b>hi</b>', 'ünï 👍']);
      const enc = encodeURIComponent;
      const headers = { 'x-forwarded-for': ctx.attackerIp() };
      if (ctx.verifyToken !== undefined && r.chance(0.15)) {
        // The right token with an odd challenge: Meta's handshake, which must echo the challenge exactly.
        const query = `hub.mode=subscribe&hub.verify_token=${enc(ctx.verifyToken)}&hub.challenge=${enc(challenge)}`;
        return { method: 'GET', path: `${ctx.webhookPath}?${query}`, headers, allowed: [200], expectText: challenge };
      }
      const token = r.pick([`lvt_${r.hex(20)}`, '', r.ascii(30), 'undefined', 'null', ...(ctx.verifyToken ? [ctx.verifyToken.slice(0, -1), `${ctx.verifyToken} `] : [])]);
      const query = r.pick([
        () => `hub.mode=subscribe&hub.verify_token=${enc(token)}&hub.challenge=${enc(challenge)}`,
        () => `hub.mode=subscribe&hub.verify_token=${enc(token)}`,
        () => `hub.mode=unsubscribe&hub.verify_token=${enc(token)}&hub.challenge=1`,
        () => `hub.mode=subscribe&hub.mode=subscribe&hub.verify_token=${enc(token)}&hub.challenge=1`,
        () => `hub.mode=subscribe&hub.verify_token=${enc(token)}&hub.verify_token=${enc(token)}&hub.challenge=1`,
        () => `hub.mode=subscribe&hub.verify_token=${enc(token)}&hub.challenge=1&hub.challenge=2`,
        () => 'hub.mode=%zz&hub.verify_token=%E0%A4%A&hub.challenge=%',
        () => `hub[mode]=subscribe&hub[verify_token]=${enc(token)}&hub[challenge]=1`,
        () => `hub.mode=subscribe&hub.verify_token=${enc(token)}%00&hub.challenge=1`,
        () => r.ascii(r.range(0, 200)).replace(/[# ]/g, '&'),
        () => '&'.repeat(r.range(1, 2000)),
        () => Array.from({ length: r.range(100, 1500) }, (_, i) => `k${i}=${i}`).join('&'),
      ])();
      return { method: 'GET', path: `${ctx.webhookPath}?${query}`, headers, allowed: [400, 403] };
    },
  },
  {
    name: 'other methods & paths',
    weight: 2,
    make(ctx, r) {
      const method = r.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'POST', 'GET']);
      const path = r.pick([ctx.webhookPath, '/', '/healthz', '/webhooks', '/webhooks/whatsapp', `${ctx.webhookPath}/extra`, '//healthz', '/healthz?x=1', `/${r.ascii(20).replace(/[?# %]/g, '_')}`]);
      const healthy = path.startsWith('/healthz') && (method === 'GET' || method === 'HEAD');
      const body = ['POST', 'PUT', 'PATCH'].includes(method) ? plausibleBody(ctx, r) : undefined;
      const onWebhook = path === ctx.webhookPath && (method === 'GET' || method === 'HEAD' || method === 'POST');
      return {
        method,
        path,
        headers: { 'x-forwarded-for': ctx.attackerIp(), ...(body ? { 'content-type': 'application/json' } : {}) },
        body,
        allowed: healthy ? [200] : onWebhook ? [400, 401, 403, 429] : [400, 404, 405], // 400: a GET that is no handshake
      };
    },
  },
  {
    name: 'odd headers, valid delivery',
    weight: 3,
    make(ctx, r) {
      const { body, wamids } = validDelivery(ctx, r);
      const extra = r.pick([
        { 'transfer-encoding': 'chunked' }, // body sent in chunks, no content-length
        { expect: '100-continue' },
        { 'content-encoding': 'gzip' },
        { connection: 'close' },
        { 'x-forwarded-for': `${META_CLIENT_IP}, unknown, 999.1.1.1, ::ffff:zz` },
        { 'x-forwarded-for': 'x'.repeat(3000) },
        { 'x-forwarded-for': '' },
        { 'x-real-ip': '1.1.1.1', forwarded: 'for="[::1]:80";proto=https' },
        { 'user-agent': 'facebookexternalua', accept: '*/*', 'accept-encoding': 'deflate, gzip' },
        { 'x-hub-signature': `sha1=${r.hex(40)}` },
        Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`x-junk-${i}`, r.ascii(50)])),
      ]);
      const c = validPost(ctx, body, wamids, extra);
      if (extra['transfer-encoding']) {
        delete c.headers['transfer-encoding'];
        c.chunked = true;
      }
      return c;
    },
  },
  {
    name: 'broken HTTP',
    weight: 2,
    make(ctx, r) {
      const host = 'Host: 127.0.0.1\r\n';
      const raw = r.pick([
        () => r.bytes(r.range(1, 512)),
        () => `GET /healthz HTTP/1.1\r\n\r\n`, // no Host: HTTP/1.1 requires one
        () => `POST ${ctx.webhookPath} HTTP/1.1\r\n${host}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        () => `POST ${ctx.webhookPath} HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n`,
        () => `POST ${ctx.webhookPath} HTTP/1.1\r\n${host}Content-Length: -1\r\n\r\n`,
        () => `POST ${ctx.webhookPath} HTTP/1.1\r\n${host}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`,
        () => `GET /healthz HTTP/1.1\r\n${host}X-Bad Header: 1\r\n\r\n`,
        () => `GET /${'a'.repeat(r.range(17_000, 40_000))} HTTP/1.1\r\n${host}\r\n`,
        () => `GET /healthz HTTP/1.1\r\n${host}X-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
        () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
        () => `GET /healthz HTTP/9.9\r\n${host}\r\n`,
        () => `GET /healthz\r\n\r\n`,
        () => `\0\0\0\0GET /healthz HTTP/1.1\r\n${host}\r\n`,
        () => `GET /healthz HTTP/1.1\r\n${host}\r\nGET /healthz HTTP/1.1\r\n${host}\r\n`, // pipelined
      ])();
      return { method: 'RAW', path: '', headers: {}, raw: Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'latin1'), allowed: [200, 400, 404, 413, 414, 431, 505, 0] };
    },
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Sending

function makeContext(options, r) {
  let serial = 0;
  const tag = `${(options.seed >>> 0).toString(36)}${Date.now().toString(36)}`;
  return {
    integrationId: options.integrationId,
    webhookPath: `${WEBHOOK_PREFIX}${options.integrationId}`,
    phoneNumberId: options.phoneNumberId,
    wabaId: options.wabaId ?? '102290129340398',
    appSecret: options.appSecret,
    verifyToken: options.verifyToken,
    newWamid: () => `wamid.FUZZ${tag}.${(serial++).toString(36)}=`,
    // Most bad requests come from many addresses (so they reach the signature check); a fifth from one attacker.
    attackerIp: () => (r.chance(0.2) ? ATTACKER_IP : `10.${r.int(256)}.${r.int(256)}.${1 + r.int(254)}`),
  };
}

/** `count` cases from the weighted categories, made one at a time (big bodies are not all held at once). */
export function* generateCases(options, count) {
  const r = makeRandom(options.seed ?? 1);
  const ctx = makeContext(options, r);
  const total = CATEGORIES.reduce((sum, c) => sum + c.weight, 0);
  // `everyCategory: n` starts with n of each category (the rare ones included), in turn.
  const first = (options.everyCategory ?? 0) * CATEGORIES.length;
  for (let i = 0; i < count; i++) {
    let category;
    if (i < first) category = CATEGORIES[i % CATEGORIES.length];
    else {
      let x = r.next() * total;
      category = CATEGORIES.find((c) => (x -= c.weight) < 0) ?? CATEGORIES[0];
    }
    yield { category: category.name, ...category.make(ctx, r) };
  }
}

/** One HTTP exchange; resolves with {status, text, headers} or {status: 0, error}. Never rejects. */
function send(base, c, agent, timeoutMs) {
  return new Promise((resolve) => {
    let settled = false;
    const done = (value) => {
      if (!settled) {
        settled = true;
        resolve(value);
      }
    };
    let req;
    try {
      const headers = { ...c.headers };
      if (c.body !== undefined && !c.chunked) headers['content-length'] = String(c.body.length);
      req = httpRequest(`${base}${c.path}`, { method: c.method, headers, agent, timeout: timeoutMs }, (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('error', (error) => done({ status: res.statusCode ?? 0, error: error.code ?? error.message, text: '' }));
        res.on('end', () => done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      });
    } catch (error) {
      // Node refuses to send some garbage (e.g. invalid header characters): not something the relay sees.
      done({ status: -1, error: error.code ?? error.message, text: '' });
      return;
    }
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'CLIENT_TIMEOUT' })));
    req.on('error', (error) => done({ status: 0, error: error.code ?? error.message, text: '', reused: req.reusedSocket }));
    if (c.body !== undefined && c.chunked) {
      const size = 64 * 1024;
      for (let i = 0; i < c.body.length; i += size) req.write(c.body.subarray(i, i + size));
      req.end();
    } else req.end(c.body);
  });
}

/** Writes raw bytes on a fresh socket; resolves with the first status code the server answers (0 = closed, none). */
function sendRaw(port, bytes, timeoutMs) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    let settled = false;
    const done = (status, error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve({ status, error, text: data.slice(0, 200) });
    };
    const timer = setTimeout(() => done(0, 'CLIENT_TIMEOUT'), timeoutMs);
    socket.on('connect', () => {
      socket.write(bytes);
      // A request without its end (bad chunking, missing body) stalls: half-close so the server sees the end.
      setTimeout(() => socket.end(), 200).unref();
    });
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      if (match && data.includes('\r\n\r\n')) {
        clearTimeout(timer);
        done(Number(match[1]));
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      done(match ? Number(match[1]) : 0, error.code);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      done(match ? Number(match[1]) : 0);
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Slowloris: connections that send part of a request and stall. The relay must cut them off and keep serving.

/**
 * Opens `count` stalled connections: headers and half a body; headers without their end; a body trickled a byte
 * at a time. Returns a handle reporting when the server closed each one.
 */
export function openSlowloris(base, options, count) {
  const url = new URL(base);
  const body = Buffer.from(`{"object":"whatsapp_business_account","entry":[${'0,'.repeat(2000)}0]}`);
  const kinds = ['half body', 'unfinished headers', 'trickled body'];
  const conns = Array.from({ length: count }, (_, i) => {
    const kind = kinds[i % kinds.length];
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const started = Date.now();
    const conn = { kind, socket, closedAfterMs: null, status: null, trickle: null };
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      if (match) conn.status = Number(match[1]);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      conn.closedAfterMs = Date.now() - started;
      if (conn.trickle) clearInterval(conn.trickle);
    });
    socket.on('connect', () => {
      const head = `POST /webhooks/whatsapp/${options.integrationId} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nX-Hub-Signature-256: ${metaSignature(body, options.appSecret)}\r\nContent-Length: ${body.length}\r\n`;
      if (kind === 'unfinished headers') socket.write(head); // no blank line: the headers never end
      else if (kind === 'half body') socket.write(`${head}\r\n${body.subarray(0, body.length >> 1).toString('latin1')}`, 'latin1');
      else {
        socket.write(`${head}\r\n`);
        let sent = 0;
        conn.trickle = setInterval(() => {
          if (sent < body.length - 1 && !socket.destroyed) socket.write(body.subarray(sent, ++sent));
        }, 2000);
        conn.trickle.unref();
      }
    });
    return conn;
  });
  return {
    conns,
    open: () => conns.filter((c) => c.closedAfterMs === null).length,
    /** Waits until the server has closed all of them, or `timeoutMs`. */
    async waitClosed(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (conns.some((c) => c.closedAfterMs === null) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
      return conns.every((c) => c.closedAfterMs !== null);
    },
    destroy() {
      for (const c of conns) {
        if (c.trickle) clearInterval(c.trickle);
        c.socket.destroy();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The run

/** Resident set size of a process, in bytes (Linux), or null when unknown. */
export function rssOf(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends `requests` generated cases at the relay (after a warm-up that is not counted) with at most `concurrency`
 * in flight, and checks every answer. Options: url, integrationId, phoneNumberId, appSecret, verifyToken?, wabaId?,
 * seed, requests, concurrency, pid? (for RSS and liveness), slowloris (connections held during the run),
 * slowlorisWaitMs (how long to wait for the relay to close them after the run; 0 = just close them),
 * timeoutMs (per request), rssSettleMs (how long RSS may take to come back down after the run), warmup (count),
 * onProgress?(done, total).
 * Resolves with a report: per-category counts by status, the violations, the wamids that must be stored, RSS.
 */
export async function runFuzz(options) {
  const base = options.url.replace(/\/+$/, '');
  const port = Number(new URL(base).port);
  const concurrency = options.concurrency ?? 16;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const seed = options.seed ?? Date.now() % 2 ** 31;
  const report = { seed, requests: 0, categories: new Map(), violations: [], notes: new Map(), mustStore: [], retried429: 0, durationMs: 0, rss: {}, slowloris: null };

  const tally = (category, status) => {
    if (!report.categories.has(category)) report.categories.set(category, { sent: 0, byStatus: new Map(), violations: 0 });
    const entry = report.categories.get(category);
    entry.sent++;
    entry.byStatus.set(status, (entry.byStatus.get(status) ?? 0) + 1);
    return entry;
  };
  const note = (c, why, answer) => {
    const entry = report.notes.get(why) ?? { count: 0, example: `${c.method} ${c.path.slice(0, 80)} → ${String(answer.text ?? '').slice(0, 160)}` };
    entry.count++;
    report.notes.set(why, entry);
  };
  const violation = (c, why, answer) => {
    report.categories.get(c.category).violations++;
    if (report.violations.length < 200) {
      report.violations.push({
        category: c.category,
        why,
        request: `${c.method} ${c.path.slice(0, 120)}${c.body ? ` (${c.body.length} bytes${c.headers['content-type'] !== 'application/json' ? `, content-type ${JSON.stringify(c.headers['content-type'])?.slice(0, 60)}` : ''})` : ''}`,
        answer: `${answer.status}${answer.error ? ` ${answer.error}` : ''} ${String(answer.text ?? '').slice(0, 160)}`,
      });
    }
  };

  async function exchange(c) {
    if (c.raw) return sendRaw(port, c.raw, timeoutMs);
    let answer = await send(base, c, agent, timeoutMs);
    // A keep-alive socket the server had just closed: the standard client-side retry, once, on a fresh connection.
    if (answer.status === 0 && answer.reused) answer = await send(base, c, false, timeoutMs);
    // Meta retries a 429: so do valid deliveries (bounded).
    for (let attempt = 0; c.valid && answer.status === 429 && attempt < 10; attempt++) {
      report.retried429++;
      const wait = Math.min(2, Number(answer.headers?.['retry-after'] ?? 1) || 1);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      answer = await send(base, c, agent, timeoutMs);
    }
    return answer;
  }

  function check(c, answer) {
    const status = answer.status;
    const label = status === 0 ? `no answer${answer.error ? ` (${answer.error})` : ''}` : status === -1 ? 'not sendable' : status;
    tally(c.category, label);
    if (status === -1) return;
    if (status >= 500 && !(c.raw && status === 505)) return violation(c, '5xx', answer);
    if (status === 0 && !(c.raw || c.allowReset)) return violation(c, 'no answer', answer);
    if (!c.allowed.includes(status) && !(status === 0 && (c.raw || c.allowReset))) return violation(c, `status ${status} not in [${c.allowed}]`, answer);
    if (c.expectText !== undefined && answer.text !== c.expectText) return violation(c, 'challenge not echoed', answer);
    if (status >= 400 && !c.raw && c.method !== 'HEAD') {
      let json;
      try {
        json = JSON.parse(answer.text);
      } catch {}
      // Not fatal: an error in another shape is still a clear 4xx. Counted and shown.
      if (typeof json?.error?.code !== 'string') note(c, `${status} answer not in the relay's {"error":{"code","message"}} shape`, answer);
    }
    if (c.valid) {
      let json;
      try {
        json = JSON.parse(answer.text);
      } catch {}
      if (json?.status !== 'received' || json.messages !== c.valid.length) return violation(c, `valid delivery answered ${answer.text}`, answer);
      report.mustStore.push(...c.valid);
    }
  }

  async function pool(cases, total) {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let step = cases.next(); !step.done; step = cases.next()) {
          check(step.value, await exchange(step.value));
          report.requests++;
          options.onProgress?.(report.requests, total);
        }
      }),
    );
  }

  const alive = () => (options.pid ? processAlive(options.pid) : true);
  try {
    // Warm-up: every category a few times (the big bodies included), so the JIT, the heap and SQLite's cache have
    // grown to their working size before the memory baseline. Its violations and deliveries count; its
    // per-category numbers are not in the table.
    const warmCount = options.warmup ?? Math.min(400, Math.max(CATEGORIES.length * 2, options.requests >> 4));
    await pool(generateCases({ ...options, seed: seed ^ 0x5eed, everyCategory: options.requests >= 2000 ? 3 : 1 }, warmCount), warmCount);
    report.warmup = report.requests;
    report.requests = 0;
    report.categories.clear();
    if (options.pid) report.rss.before = rssOf(options.pid);

    const slow = options.slowloris ? openSlowloris(base, options, options.slowloris) : null;
    // RSS over the run (a leak grows steadily; a working set levels off).
    report.rss.samples = [];
    const sampler = options.pid
      ? setInterval(() => report.rss.samples.push({ at: report.requests, rss: rssOf(options.pid) ?? 0 }), 250)
      : null;
    const started = Date.now();
    await pool(generateCases({ ...options, seed }, options.requests), options.requests);
    report.durationMs = Date.now() - started;
    if (sampler) clearInterval(sampler);
    report.rss.peak = Math.max(0, ...report.rss.samples.map((s) => s.rss)) || null;

    if (slow) {
      const openDuringRun = slow.open();
      const allClosed = options.slowlorisWaitMs ? await slow.waitClosed(options.slowlorisWaitMs) : false;
      report.slowloris = {
        count: slow.conns.length,
        openDuringRun,
        cutOff: allClosed,
        conns: slow.conns.map((c) => ({ kind: c.kind, closedAfterMs: c.closedAfterMs, status: c.status })),
      };
      if (options.slowlorisWaitMs && !allClosed) {
        report.violations.push({ category: 'slowloris', why: `not cut off within ${options.slowlorisWaitMs} ms`, request: '', answer: '' });
      }
      slow.destroy();
    }

    const health = await send(base, { method: 'GET', path: '/healthz', headers: {} }, false, 5_000);
    if (health.status !== 200) report.violations.push({ category: 'health', why: `/healthz answered ${health.status} after the run`, request: '', answer: health.error ?? '' });
  } finally {
    agent.destroy();
  }
  if (!alive()) report.violations.push({ category: 'process', why: 'the relay process died', request: '', answer: '' });
  if (options.pid) {
    // V8 returns memory some seconds after a burst: "after" is the lowest RSS seen while settling (up to
    // rssSettleMs, stopping early once back near the baseline). A leak does not come back down.
    report.rss.end = rssOf(options.pid);
    let lowest = report.rss.end;
    const settleUntil = Date.now() + (options.rssSettleMs ?? 0);
    while (Date.now() < settleUntil && lowest - report.rss.before > 10 * 1024 * 1024 && alive()) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      lowest = Math.min(lowest, rssOf(options.pid) ?? lowest);
    }
    report.rss.after = lowest;
  }
  return report;
}

/** The wamids of `wamids` that are not in the relay's database (read-only; safe while it runs). */
export async function missingFromDb(dbPath, wamids) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const stmt = db.prepare('SELECT COUNT(*) AS n FROM interactions WHERE wamid = ?');
    return wamids.filter((w) => stmt.get(w).n !== 1);
  } finally {
    db.close();
  }
}

/** The report as a table, one line per category, plus totals. */
export function formatReport(report) {
  const rows = [...report.categories.entries()].sort((a, b) => b[1].sent - a[1].sent);
  const width = Math.max(...rows.map(([name]) => name.length), 10);
  const lines = [`${'category'.padEnd(width)}  ${'sent'.padStart(6)}  ${'bad'.padStart(4)}  answers`];
  for (const [name, entry] of rows) {
    const statuses = [...entry.byStatus.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0]))).map(([s, n]) => `${s}×${n}`).join(' ');
    lines.push(`${name.padEnd(width)}  ${String(entry.sent).padStart(6)}  ${String(entry.violations).padStart(4)}  ${statuses}`);
  }
  const total = rows.reduce((sum, [, e]) => sum + e.sent, 0);
  lines.push(`${'total'.padEnd(width)}  ${String(total).padStart(6)}  ${String(report.violations.length).padStart(4)}  in ${(report.durationMs / 1000).toFixed(1)} s (seed ${report.seed})`);
  return lines.join('\n');
}
