-- Which relay works this database's queues. One relay per SQLite file (one per LUMEN_HOME): at start it frees the
-- claims a killed relay left, which would hand another live relay's messages on twice. A relay takes this one row
-- before it frees anything, renews it while it runs and deletes it when it stops; another may take it once the
-- holder's process is gone (same host) or its lease ran out.
CREATE TABLE relay_lease (
  id            INTEGER PRIMARY KEY CHECK (id = 1),
  holder        TEXT NOT NULL,
  pid           INTEGER NOT NULL,
  host          TEXT NOT NULL,
  taken_at      TEXT NOT NULL,
  claimed_until TEXT NOT NULL
);
