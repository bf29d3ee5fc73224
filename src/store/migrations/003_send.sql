-- Sending: which template a message used, its approval trail, and the send-rate slots every lumen process shares.

ALTER TABLE outbound_messages ADD COLUMN template_name TEXT;
ALTER TABLE outbound_messages ADD COLUMN template_language TEXT;
ALTER TABLE outbound_messages ADD COLUMN force_window INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbound_messages ADD COLUMN approved_by TEXT;
ALTER TABLE outbound_messages ADD COLUMN approved_at TEXT;
ALTER TABLE outbound_messages ADD COLUMN rejected_by TEXT;
ALTER TABLE outbound_messages ADD COLUMN rejected_at TEXT;
ALTER TABLE outbound_messages ADD COLUMN reject_reason TEXT;
ALTER TABLE outbound_messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

CREATE INDEX outbound_by_state ON outbound_messages (workspace_id, state);

-- One row per rate-limited key (an integration, a workspace): the earliest moment the next send may start.
-- Taken in an IMMEDIATE transaction, so concurrent lumen processes share the limit.
CREATE TABLE send_slots (
  key        TEXT PRIMARY KEY,
  next_at_ms INTEGER NOT NULL
);
