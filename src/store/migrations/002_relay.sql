-- What the relay receives and hands on: inbound messages (interactions), the people who wrote (contacts),
-- messages lumen sent and their delivery statuses, and the durable queue of deliveries to the user's code.
-- No foreign keys to integrations: stored messages outlive a disconnect unless it purges them.
-- The webhook path writes here; every index costs it time, so there are only the ones lookups need
-- (interaction ids are `in_<seq>`, rowid lookups; an event's id is its interaction's seq). AUTOINCREMENT: an id is
-- never reused, even after a purge, so consumers can deduplicate on it.

CREATE TABLE interactions (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  workspace_id    TEXT NOT NULL,
  integration_id  TEXT NOT NULL,
  channel         TEXT NOT NULL DEFAULT 'whatsapp',
  wamid           TEXT NOT NULL,
  phone_number_id TEXT NOT NULL,
  from_id         TEXT NOT NULL,
  from_kind       TEXT NOT NULL,
  contact_name    TEXT,
  type            TEXT NOT NULL,
  text            TEXT NOT NULL,
  media_id        TEXT,
  reply_to        TEXT,
  sent_at         TEXT NOT NULL,
  received_at     TEXT NOT NULL,
  raw             TEXT NOT NULL
);

-- Redeliveries are stored once per (integration_id, wamid), forever. Meta's wamids are random: a text unique index
-- on them dirties a random wide page per message per commit. Instead a compact table keyed by a 53-bit hash of
-- (integration_id, wamid) names the interaction holding that hash (the full wamid is compared on a hit); the rare
-- different message with the same hash goes to interaction_key_overflow, keyed by the full text.
-- The hash function (repos/inbox.ts, dedupeKey) is part of the file format: never change it.
CREATE TABLE interaction_keys (
  h               INTEGER PRIMARY KEY,
  seq             INTEGER NOT NULL
);
CREATE TABLE interaction_key_overflow (
  integration_id  TEXT NOT NULL,
  wamid           TEXT NOT NULL,
  h               INTEGER NOT NULL,
  seq             INTEGER NOT NULL,
  PRIMARY KEY (integration_id, wamid)
) WITHOUT ROWID;

CREATE TABLE contacts (
  integration_id  TEXT NOT NULL,
  contact_id      TEXT NOT NULL,
  kind            TEXT NOT NULL,
  workspace_id    TEXT NOT NULL,
  name            TEXT,
  user_id         TEXT,
  first_seen_at   TEXT NOT NULL,
  last_inbound_at TEXT NOT NULL,
  messages        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (integration_id, contact_id)
);

CREATE TABLE outbound_messages (
  id              TEXT PRIMARY KEY,
  workspace_id    TEXT NOT NULL,
  integration_id  TEXT NOT NULL,
  wamid           TEXT UNIQUE,
  recipient       TEXT NOT NULL,
  kind            TEXT NOT NULL,
  body            TEXT NOT NULL,
  state           TEXT NOT NULL,
  error_code      INTEGER,
  error_title     TEXT,
  error_details   TEXT,
  fbtrace_id      TEXT,
  source          TEXT NOT NULL,
  in_reply_to     TEXT,
  idempotency_key TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX outbound_by_idempotency_key ON outbound_messages (integration_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE message_statuses (
  wamid           TEXT NOT NULL,
  status          TEXT NOT NULL,
  integration_id  TEXT NOT NULL,
  recipient_id    TEXT,
  occurred_at     TEXT NOT NULL,
  error_code      INTEGER,
  error_title     TEXT,
  error_details   TEXT,
  received_at     TEXT NOT NULL,
  raw             TEXT NOT NULL,
  PRIMARY KEY (wamid, status)
);

CREATE TABLE dispatch_events (
  interaction_seq  INTEGER PRIMARY KEY,
  workspace_id     TEXT NOT NULL,
  state            TEXT NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT NOT NULL,
  last_target      TEXT,
  last_status      INTEGER,
  last_error       TEXT,
  last_duration_ms INTEGER,
  created_at       TEXT NOT NULL,
  delivered_at     TEXT
);
-- Only undelivered events are indexed: the index stays as small as the backlog.
CREATE INDEX dispatch_events_due ON dispatch_events (next_attempt_at) WHERE state != 'delivered';
