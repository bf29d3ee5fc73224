-- `messages list --from` is an index lookup, however many messages are stored (senders are few: the pages are hot).
-- IF NOT EXISTS: 006 creates it for databases made since it gained the index; those made before it did get it here.
CREATE INDEX IF NOT EXISTS interactions_by_sender ON interactions (workspace_id, from_id, seq);
