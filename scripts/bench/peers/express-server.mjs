// Peer: a hand-written Express 5 route, as the Cloud API docs suggest one: the raw body (express.raw), an HMAC-SHA256
// check of X-Hub-Signature-256 with timingSafeEqual, JSON.parse, one better-sqlite3 insert per message and per
// status, then 200.
//   BENCH_PEER_DB=<file> BENCH_APP_SECRET=<secret> node scripts/bench/peers/express-server.mjs
import { createHmac, timingSafeEqual } from 'node:crypto';
import express from 'express';
import { announce, openPeerStore } from './peer-store.mjs';

const store = openPeerStore(process.env.BENCH_PEER_DB);
const appSecret = process.env.BENCH_APP_SECRET;
const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;

const app = express();
app.post('/webhooks/whatsapp/:id', express.raw({ type: '*/*', limit: '3mb' }), (req, res) => {
  const match = SIGNATURE.exec(req.get('x-hub-signature-256') ?? '');
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const expected = createHmac('sha256', appSecret).update(body).digest();
  if (!match || !timingSafeEqual(Buffer.from(match[1], 'hex'), expected)) return res.sendStatus(401);
  let payload;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    return res.sendStatus(400);
  }
  for (const entry of payload.entry ?? []) {
    for (const change of entry.changes ?? []) {
      const value = change.value ?? {};
      const phoneId = value.metadata?.phone_number_id;
      const names = new Map((value.contacts ?? []).map((c) => [c.wa_id, c.profile?.name]));
      for (const message of value.messages ?? []) store.insertMessage(phoneId, message, names.get(message.from));
      for (const status of value.statuses ?? []) store.insertStatus(status);
    }
  }
  res.sendStatus(200);
});

const server = app.listen(0, '127.0.0.1', () => announce(server, () => new Promise((resolve) => server.close(() => resolve(store.close())))));
