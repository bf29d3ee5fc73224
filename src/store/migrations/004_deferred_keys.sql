-- The relay no longer writes a message's dedupe key (interaction_keys) in the transaction that stores the message:
-- a random key dirties a random page per message per commit. It keeps the newest keys in memory and folds them into
-- interaction_keys in sorted batches. Every interaction with seq <= through has its key in interaction_keys (or
-- interaction_key_overflow); the keys of later ones are folded from the interactions table before the next write.
CREATE TABLE interaction_keys_folded (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  through  INTEGER NOT NULL
);
INSERT INTO interaction_keys_folded (id, through) SELECT 1, COALESCE(MAX(seq), 0) FROM interactions;
