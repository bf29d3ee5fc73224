-- `messages list` (newest first, `--since` or not) is an index range scan however many messages are stored.
CREATE INDEX interactions_by_time ON interactions (workspace_id, received_at, seq);
