-- LUMEN_SECRET_STORE=database: the access token, app secret, signing secret and local API key of every host sharing
-- this database, each encrypted with AES-256-GCM under a key derived from LUMEN_MASTER_KEY. Never plain text: a row
-- holds the nonce, the ciphertext and the tag, and the id of the key that wrote it (a fingerprint, never the key),
-- so a host with another key is told so, and `lumen secrets rotate-key` knows what it has left to re-encrypt.
CREATE TABLE secrets (
  key        TEXT PRIMARY KEY,
  key_id     TEXT NOT NULL,
  nonce      BYTEA NOT NULL CHECK (octet_length(nonce) = 12),
  ciphertext BYTEA NOT NULL,
  auth_tag   BYTEA NOT NULL CHECK (octet_length(auth_tag) = 16),
  updated_at TEXT NOT NULL
);
CREATE INDEX secrets_by_key_id ON secrets (key_id);
