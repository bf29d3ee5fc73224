-- Every webhook field is acted on: pricing per sent message, templates updated by Meta's webhooks, the number's
-- account facts, marketing opt-outs, messages sent from the WhatsApp Business app (coexistence echoes), edits and
-- revokes, and a log of the non-message events (the queue of those handed to the user's code).

-- Statuses: Meta's `pricing` object of the latest status that carried one. Categories are kept as Meta names them.
ALTER TABLE outbound_messages ADD COLUMN pricing_model TEXT;
ALTER TABLE outbound_messages ADD COLUMN pricing_category TEXT;
ALTER TABLE outbound_messages ADD COLUMN pricing_type TEXT;
ALTER TABLE outbound_messages ADD COLUMN billable INTEGER;
-- Edits keep every earlier text (a JSON array of {text, at}); a revoke marks the message deleted.
ALTER TABLE outbound_messages ADD COLUMN previous_texts TEXT;
ALTER TABLE outbound_messages ADD COLUMN deleted_at TEXT;
ALTER TABLE interactions ADD COLUMN previous_texts TEXT;
ALTER TABLE interactions ADD COLUMN deleted_at TEXT;

-- Templates: why Meta gave the status (REJECTED, PAUSED, DISABLED…), the quality score, and when a webhook changed it.
ALTER TABLE templates ADD COLUMN status_reason TEXT;
ALTER TABLE templates ADD COLUMN quality_score TEXT;
ALTER TABLE templates ADD COLUMN webhook_updated_at TEXT;

-- Marketing opt-outs (user_preferences): the latest preference per contact and category. Kept apart from contacts
-- (which count the messages someone wrote): an opt-out may come from someone who never wrote.
CREATE TABLE contact_preferences (
  integration_id  TEXT NOT NULL,
  contact_id      TEXT NOT NULL,
  workspace_id    TEXT NOT NULL,
  category        TEXT NOT NULL,
  value           TEXT NOT NULL,
  detail          TEXT,
  occurred_at     TEXT NOT NULL,
  received_at     TEXT NOT NULL,
  PRIMARY KEY (integration_id, contact_id, category)
);

-- The number's account facts, as the latest webhook told them (quality, messaging limit, restriction, whether the
-- number is also on the WhatsApp Business app).
CREATE TABLE account_facts (
  integration_id  TEXT PRIMARY KEY,
  workspace_id    TEXT NOT NULL,
  quality_rating  TEXT,
  messaging_limit TEXT,
  restriction     TEXT,
  account_event   TEXT,
  coexistence     INTEGER,
  capability      TEXT,
  updated_at      TEXT NOT NULL
);

-- Non-message events (template, account, preferences, echo, edit, revoke; statuses when forwarded), each as the
-- document the user's code receives. forward_state is NULL when it is not to be handed on; else it is a durable
-- queue like dispatch_events (claimed with a lease, retried with backoff).
CREATE TABLE webhook_events (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  workspace_id     TEXT NOT NULL,
  integration_id   TEXT NOT NULL,
  object           TEXT NOT NULL,
  field            TEXT NOT NULL,
  doc              TEXT NOT NULL,
  received_at      TEXT NOT NULL,
  forward_state    TEXT,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT,
  claimed_until    TEXT,
  last_status      INTEGER,
  last_error       TEXT,
  delivered_at     TEXT
);
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE forward_state IN ('pending', 'retrying');

-- --forward-raw: Meta's exact body bytes and its signature header, queued for the user's code after they are stored.
CREATE TABLE raw_deliveries (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  workspace_id     TEXT NOT NULL,
  integration_id   TEXT NOT NULL,
  body             BLOB NOT NULL,
  signature        TEXT NOT NULL,
  received_at      TEXT NOT NULL,
  forward_state    TEXT,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT,
  claimed_until    TEXT,
  last_status      INTEGER,
  last_error       TEXT,
  delivered_at     TEXT
);
CREATE INDEX raw_deliveries_due ON raw_deliveries (next_attempt_at) WHERE forward_state IN ('pending', 'retrying');
