// Webhook deliveries as Meta sends them, built and signed before a run so the load generator only sends them.
// Two workloads:
//   messages: one inbound text message per delivery;
//   mix:      1 inbound message : 3 status webhooks (sent, delivered, read) for messages lumen sent, in groups of
//             four consecutive requests. The sent messages' wamids come from an OutboundPool that the bench seeds
//             into the relay's outbound_messages before the round.
// Wamids are shaped like Meta's (base64 of the sender and random bytes, so they land all over a unique index like
// real ones) and unique by construction (a counter over the whole bench run); 1,000 distinct senders. Signed with
// HMAC-SHA256 of the exact body under the app secret (X-Hub-Signature-256), as Meta does; signing lives here, not in
// dist/, so the peers can be measured while lumen itself does not build.
import { createHmac, randomBytes } from 'node:crypto';

export const SENDERS = 1000;
export const FIRST_SENDER = 15551000000;
/** Requests of the mix per inbound message: the message and its 3 statuses. */
export const MIX_GROUP = 4;
const STATUSES = ['sent', 'delivered', 'read'];

let batch = 0;

export function sign(body, appSecret) {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

export const senderOf = (i) => String(FIRST_SENDER + (i % SENDERS));

/** Meta-shaped wamid: `wamid.` + base64 of (sender, 6 random bytes, 6 bytes unique over the bench run). */
function wamidFor(from, random, unique) {
  return `wamid.${Buffer.concat([Buffer.from(`\u0018\f${from}\u0015\u0002\u0000\u0012\u0018\u0014`, 'latin1'), random, unique]).toString('base64')}`;
}

function uniqueBytes(i) {
  const unique = Buffer.alloc(6);
  unique.writeUInt16BE(batch & 0xffff);
  unique.writeUInt32BE(i, 2);
  return unique;
}

/** Wamids of messages "lumen sent" (and the recipient of each), handed out in order to the mix's status webhooks. */
export class OutboundPool {
  constructor(size) {
    batch += 1;
    const random = randomBytes(size * 6);
    this.wamids = new Array(size);
    this.recipients = new Array(size);
    for (let i = 0; i < size; i += 1) {
      const to = senderOf(i);
      this.recipients[i] = to;
      this.wamids[i] = wamidFor(to, random.subarray(i * 6, i * 6 + 6), uniqueBytes(i));
    }
    this.next = 0;
  }

  get size() {
    return this.wamids.length;
  }

  take() {
    if (this.next >= this.wamids.length) throw new Error(`the outbound pool of ${this.wamids.length} wamids ran out`);
    const i = this.next++;
    return { wamid: this.wamids[i], to: this.recipients[i] };
  }
}

/** Outbound wamids a round of `requests` mix requests needs at most (one per group of four). */
export const outboundNeeded = (requests) => Math.ceil(requests / MIX_GROUP) + 1;

function envelope(meta, value) {
  return (
    `{"object":"whatsapp_business_account","entry":[{"id":"${meta.wabaId}","changes":[{"value":` +
    `{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550104242","phone_number_id":"${meta.phoneNumberId}"},` +
    `${value}},"field":"messages"}]}]}`
  );
}

function inboundBody(meta, i, n, wamid, timestamp) {
  const from = senderOf(i);
  return envelope(
    meta,
    `"contacts":[{"profile":{"name":"Bench User ${i % SENDERS}"},"wa_id":"${from}"}],` +
      `"messages":[{"from":"${from}","id":"${wamid}","timestamp":"${timestamp}",` +
      `"text":{"body":"Hello! This is benchmark message number ${n}."},"type":"text"}]`,
  );
}

function statusBody(meta, status, { wamid, to }, timestamp, conversationId) {
  // Meta sends conversation and pricing with sent and delivered, not with read.
  const billing =
    status === 'read'
      ? ''
      : `,"conversation":{"id":"${conversationId}","expiration_timestamp":"${Number(timestamp) + 86400}","origin":{"type":"service"}},` +
        `"pricing":{"billable":true,"pricing_model":"PMP","category":"service","type":"regular"}`;
  return envelope(meta, `"statuses":[{"id":"${wamid}","status":"${status}","timestamp":"${timestamp}","recipient_id":"${to}"${billing}}]`);
}

/**
 * `count` signed deliveries of `workload` ('messages' or 'mix'; the mix takes its status wamids from `outbound`).
 * `meta` is { appSecret, phoneNumberId, wabaId }. Bodies and signatures are kept as two string arrays; `kinds`
 * counts how many of each there are.
 */
export function makeDeliveries(count, { meta, workload = 'messages', outbound }) {
  if (workload === 'mix' && !outbound) throw new Error('the mix needs an OutboundPool');
  batch += 1;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const random = randomBytes(count * 6);
  const bodies = new Array(count);
  const signatures = new Array(count);
  const kinds = { messages: 0, statuses: 0 };
  let sent;
  let conversationId;
  for (let i = 0; i < count; i += 1) {
    let body;
    const position = workload === 'mix' ? i % MIX_GROUP : 0;
    if (position === 0) {
      const group = workload === 'mix' ? Math.floor(i / MIX_GROUP) : i;
      const wamid = wamidFor(senderOf(group), random.subarray(i * 6, i * 6 + 6), uniqueBytes(i));
      body = inboundBody(meta, group, i, wamid, timestamp);
      kinds.messages += 1;
      if (workload === 'mix') {
        sent = outbound.take();
        conversationId = random.subarray(i * 6, i * 6 + 6).toString('hex').padEnd(32, '0');
      }
    } else {
      body = statusBody(meta, STATUSES[position - 1], sent, timestamp, conversationId);
      kinds.statuses += 1;
    }
    bodies[i] = body;
    signatures[i] = sign(body, meta.appSecret);
  }
  return { bodies, signatures, kinds };
}
