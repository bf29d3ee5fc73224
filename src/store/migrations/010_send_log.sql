-- The sends of each rate-limited key (a number, a workspace) that may still reach Meta within a second, numbered per
-- key: when each one's slot was taken, when its Graph call returned (NULL while in flight) and free_at_ms, the latest
-- moment its request can reach Meta (the answer's time; while in flight, the slot's time plus the longest a send can
-- take). A send may start only while fewer than R of its key's sends have free_at_ms within the last second (R = the
-- key's sends per second), so no R + 1 sends of a key reach Meta within one second whatever the network's jitter; each
-- take deletes the rows that stopped counting, so a key keeps at most R.
CREATE TABLE send_log (
  key            TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  taken_at_ms    REAL NOT NULL,
  answered_at_ms REAL,
  free_at_ms     REAL NOT NULL,
  PRIMARY KEY (key, seq)
) WITHOUT ROWID;
CREATE INDEX send_log_by_free_at ON send_log (key, free_at_ms);
