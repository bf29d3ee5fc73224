-- `messages list --from` is an index lookup, however many messages are stored (senders are few: the pages are hot).
-- IF NOT EXISTS: databases made while this index was still part of 006 (before it landed) already have it.
CREATE INDEX IF NOT EXISTS interactions_by_sender ON interactions (workspace_id, from_id, seq);
