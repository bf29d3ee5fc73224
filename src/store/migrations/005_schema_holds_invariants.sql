-- The schema holds the invariants again, so every process (and, later, every host) can rely on the database alone.
--
-- 1. One interaction per (integration_id, wamid), by a UNIQUE index. The relay stores with INSERT … ON CONFLICT DO
--    NOTHING inside its group commit and writes the sender's contacts row in the same transaction. Duplicates a
--    crash or a concurrent writer may have left under the old in-memory dedupe are collapsed first (the earliest row
--    stays; its dispatch event too). The key tables, the fold watermark and every variant of them go.
DELETE FROM dispatch_events WHERE interaction_seq IN (
  SELECT seq FROM interactions WHERE seq NOT IN (SELECT MIN(seq) FROM interactions GROUP BY integration_id, wamid));
DELETE FROM interactions WHERE seq NOT IN (SELECT MIN(seq) FROM interactions GROUP BY integration_id, wamid);
CREATE UNIQUE INDEX interactions_by_wamid ON interactions (integration_id, wamid);
DROP TABLE IF EXISTS interaction_keys;
DROP TABLE IF EXISTS interaction_key_overflow;
DROP TABLE IF EXISTS interactions_folded;
DROP TABLE IF EXISTS interaction_keys_folded;

-- Contacts rebuilt from the stored messages (the fold may have left them behind): from here on they are written in
-- the transaction that stores each message. The newest known name and user id win.
DELETE FROM contacts;
INSERT INTO contacts (integration_id, contact_id, kind, workspace_id, name, user_id, first_seen_at, last_inbound_at, messages)
SELECT s.integration_id, s.from_id, s.kind, s.workspace_id,
       (SELECT contact_name FROM interactions WHERE seq = s.name_seq),
       (SELECT user_id FROM interactions WHERE seq = s.user_id_seq),
       s.first_seen_at, s.last_inbound_at, s.messages
  FROM (SELECT integration_id, from_id, MIN(from_kind) AS kind, MIN(workspace_id) AS workspace_id,
               MAX(CASE WHEN contact_name IS NOT NULL THEN seq END) AS name_seq,
               MAX(CASE WHEN user_id IS NOT NULL THEN seq END) AS user_id_seq,
               MIN(sent_at) AS first_seen_at, MAX(sent_at) AS last_inbound_at, COUNT(*) AS messages
          FROM interactions GROUP BY integration_id, from_id) AS s;

-- 2. A dispatch event is worked by one relay at a time: it is claimed until claimed_until (a lease); a relay that
--    dies mid-delivery leaves a claim that expires, and another takes the event over.
ALTER TABLE dispatch_events ADD COLUMN claimed_until TEXT;

-- 3. A change marker: every write to integrations (connect, re-connect, rotate-token, disconnect) moves it, so a
--    running relay reads one integer per request and reloads its integrations the moment they changed.
CREATE TABLE store_changes (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  integrations INTEGER NOT NULL
);
INSERT INTO store_changes (id, integrations) VALUES (1, 0);
CREATE TRIGGER integrations_inserted AFTER INSERT ON integrations
BEGIN UPDATE store_changes SET integrations = integrations + 1 WHERE id = 1; END;
CREATE TRIGGER integrations_updated AFTER UPDATE ON integrations
BEGIN UPDATE store_changes SET integrations = integrations + 1 WHERE id = 1; END;
CREATE TRIGGER integrations_deleted AFTER DELETE ON integrations
BEGIN UPDATE store_changes SET integrations = integrations + 1 WHERE id = 1; END;

-- 4. Meta's webhook-level errors (value.errors[]): recorded, not dropped.
CREATE TABLE webhook_errors (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  workspace_id    TEXT NOT NULL,
  integration_id  TEXT NOT NULL,
  phone_number_id TEXT,
  code            INTEGER,
  title           TEXT,
  message         TEXT,
  details         TEXT,
  received_at     TEXT NOT NULL,
  raw             TEXT NOT NULL
);
CREATE INDEX webhook_errors_by_integration ON webhook_errors (integration_id, id);
