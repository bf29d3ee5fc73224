// The peers' storage, the same for each of them: one better-sqlite3 statement per inbound message and one per
// status, each its own (autocommit) transaction, committed before the 200. WAL + synchronous=NORMAL, like lumen; a
// unique key on the wamid (on (wamid, status) for statuses) so a redelivery is stored once, like lumen.
import Database from 'better-sqlite3';

export function openPeerStore(path) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS messages (
      id          INTEGER PRIMARY KEY,
      wamid       TEXT NOT NULL UNIQUE,
      phone_id    TEXT NOT NULL,
      from_id     TEXT NOT NULL,
      name        TEXT,
      type        TEXT NOT NULL,
      text        TEXT,
      sent_at     TEXT NOT NULL,
      received_at TEXT NOT NULL,
      raw         TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS statuses (
      wamid        TEXT NOT NULL,
      status       TEXT NOT NULL,
      recipient_id TEXT,
      occurred_at  TEXT NOT NULL,
      received_at  TEXT NOT NULL,
      raw          TEXT NOT NULL,
      PRIMARY KEY (wamid, status)
    );
  `);
  const message = db.prepare(
    `INSERT INTO messages (wamid, phone_id, from_id, name, type, text, sent_at, received_at, raw)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (wamid) DO NOTHING`,
  );
  const status = db.prepare(
    `INSERT INTO statuses (wamid, status, recipient_id, occurred_at, received_at, raw)
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (wamid, status) DO NOTHING`,
  );
  const iso = (seconds) => new Date(Number(seconds) * 1000).toISOString();
  return {
    /** One inbound message of a parsed webhook (`name`: the sender's profile name, if the delivery had one). */
    insertMessage(phoneId, m, name) {
      message.run(m.id, phoneId, m.from, name ?? null, m.type, m.text?.body ?? null, iso(m.timestamp), new Date().toISOString(), JSON.stringify(m));
    },
    insertStatus(s) {
      status.run(s.id, s.status, s.recipient_id ?? null, iso(s.timestamp), new Date().toISOString(), JSON.stringify(s));
    },
    close: () => db.close(),
  };
}

/** Rows the peer stored, read after it stopped. */
export function countPeerRows(path) {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return {
      messages: db.prepare('SELECT count(*) AS n FROM messages').get().n,
      statuses: db.prepare('SELECT count(*) AS n FROM statuses').get().n,
    };
  } finally {
    db.close();
  }
}

/** The `listening` line every bench server prints, and a graceful stop on SIGINT/SIGTERM. */
export function announce(server, close) {
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${server.address().port}` })}\n`);
  const stop = () => close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
