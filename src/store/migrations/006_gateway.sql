-- lumen as a bot's gateway: inbound media on disk, users known only by a user id, every message type out.

-- Inbound media files: one row per media id a message carried (or lumen uploaded). The relay fetches each after the
-- 200, never inside the message's transaction, so a failed download never loses the message; a row is claimed with
-- a lease (claimed_until) while it is fetched, retried with backoff, and survives restarts.
CREATE TABLE media (
  integration_id  TEXT NOT NULL,
  media_id        TEXT NOT NULL,
  workspace_id    TEXT NOT NULL,
  -- The inbound message it came with; NULL for a file lumen uploaded to send.
  interaction_seq INTEGER,
  direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  state           TEXT NOT NULL CHECK (state IN ('pending', 'stored', 'failed', 'uploaded')),
  mime_type       TEXT,
  -- Hex SHA-256 of the file, checked against Meta's before it is kept.
  sha256          TEXT,
  size            INTEGER,
  filename        TEXT,
  caption         TEXT,
  -- Where the file is, under LUMEN_HOME/media (named by its hash).
  path            TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  last_error      TEXT,
  claimed_until   TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  PRIMARY KEY (integration_id, media_id)
);
CREATE INDEX media_due ON media (next_attempt_at) WHERE state = 'pending';
CREATE INDEX media_by_interaction ON media (interaction_seq) WHERE interaction_seq IS NOT NULL;

-- Username users: Meta's parent user id (shared across a managed business's portfolios) is kept beside the user id,
-- and a contact is found by its user id as well as by its phone number.
ALTER TABLE interactions ADD COLUMN parent_user_id TEXT;
ALTER TABLE contacts ADD COLUMN parent_user_id TEXT;
CREATE INDEX contacts_by_user_id ON contacts (integration_id, user_id) WHERE user_id IS NOT NULL;

-- `messages list --from` is an index lookup, however many messages are stored (senders are few: the pages are hot).
CREATE INDEX interactions_by_sender ON interactions (workspace_id, from_id, seq);

-- A sent message's recipient is a phone number or a user id (sent as `recipient`).
ALTER TABLE outbound_messages ADD COLUMN recipient_kind TEXT NOT NULL DEFAULT 'phone';
