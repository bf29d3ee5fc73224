-- A purge asks, for each media file it would delete, whether a record still points at it: by its path, or (a file
-- is named by its hash) by its hash. Without these, each question read the whole media table.
CREATE INDEX media_by_path ON media (path) WHERE path IS NOT NULL;
CREATE INDEX media_by_sha256 ON media (sha256) WHERE path IS NOT NULL;
