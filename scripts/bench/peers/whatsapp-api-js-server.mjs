// Peer: whatsapp-api-js's node:http middleware. handle_post reads the body, checks X-Hub-Signature-256 against the
// app secret (Web Crypto HMAC), parses the webhook and awaits the on.message / on.status emitter, which stores the
// message or status with one better-sqlite3 insert; then the route answers with the status code it returned.
//   BENCH_PEER_DB=<file> BENCH_APP_SECRET=<secret> node scripts/bench/peers/whatsapp-api-js-server.mjs
import { createServer } from 'node:http';
import { WhatsAppAPI } from 'whatsapp-api-js/middleware/node-http';
import { announce, openPeerStore } from './peer-store.mjs';

const store = openPeerStore(process.env.BENCH_PEER_DB);
const Whatsapp = new WhatsAppAPI({
  token: 'bench-token-never-used',
  appSecret: process.env.BENCH_APP_SECRET,
  webhookVerifyToken: 'bench-verify-token',
  v: 'v23.0',
});
Whatsapp.on.message = ({ phoneID, message, contact }) => store.insertMessage(phoneID, message, contact?.profile?.name);
Whatsapp.on.status = ({ raw }) => store.insertStatus(raw.entry[0].changes[0].value.statuses[0]);

const server = createServer(async (request, response) => {
  if (request.method === 'POST' && request.url.startsWith('/webhooks/whatsapp/')) {
    response.statusCode = await Whatsapp.handle_post(request);
    response.end();
    return;
  }
  response.statusCode = 404;
  response.end();
});
server.listen(0, '127.0.0.1', () => announce(server, () => new Promise((resolve) => server.close(() => resolve(store.close())))));
