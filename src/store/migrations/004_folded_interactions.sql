-- The relay's transaction that stores a message no longer writes what can be derived from it later: the message's
-- dedupe key (a random key dirties a random page of interaction_keys per message per commit) and its sender's
-- contacts row. Keys wait in the relay's memory and are folded into interaction_keys in sorted batches; the
-- contacts rows are brought up to date from the stored messages in the same fold.
-- Every interaction with seq <= through has its key in interaction_keys (or interaction_key_overflow) and is
-- counted in contacts; later ones are folded from the interactions table (readers of contacts add them in).
-- purged counts purges: a connection holding keys in memory drops them when another one purged (they may name
-- deleted messages). The key function (dedupeKey) has moved to repos/dedupe-keys.ts, unchanged.
CREATE TABLE interactions_folded (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  through  INTEGER NOT NULL,
  purged   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO interactions_folded (id, through) SELECT 1, COALESCE(MAX(seq), 0) FROM interactions;

-- The sender's user id (Meta's business-scoped user id), kept with the message so its contact row can be derived.
ALTER TABLE interactions ADD COLUMN user_id TEXT;
