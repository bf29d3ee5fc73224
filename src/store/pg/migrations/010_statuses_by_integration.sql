-- A status belongs to the number whose webhook delivered it: keyed by (integration_id, wamid, status), not by
-- (wamid, status) alone. Before, a status signed with one app's secret could move (or, stored first, block) the
-- state of a message another workspace's number sent.
ALTER TABLE message_statuses DROP CONSTRAINT message_statuses_pkey;
ALTER TABLE message_statuses ADD PRIMARY KEY (integration_id, wamid, status);
