-- The browser console: a conversation's sent messages and the sends-per-minute chart stay index lookups however many
-- messages lumen has sent (outbound_messages had no index by recipient or by time).
CREATE INDEX outbound_by_recipient ON outbound_messages (integration_id, recipient, created_at);
CREATE INDEX outbound_by_created ON outbound_messages (workspace_id, created_at);
