-- A status belongs to the number whose webhook delivered it: keyed by (integration_id, wamid, status), not by
-- (wamid, status) alone. Before, a status signed with one app's secret could move (or, stored first, block) the
-- state of a message another workspace's number sent.
CREATE TABLE message_statuses_by_integration (
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
  PRIMARY KEY (integration_id, wamid, status)
);
INSERT INTO message_statuses_by_integration
  SELECT wamid, status, integration_id, recipient_id, occurred_at, error_code, error_title, error_details, received_at, raw
    FROM message_statuses;
DROP TABLE message_statuses;
ALTER TABLE message_statuses_by_integration RENAME TO message_statuses;
