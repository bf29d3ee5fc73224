-- The replies the user's code answered a delivery with, kept with the delivered state until each has reached the
-- outbox and been sent (or refused): a relay killed in between leaves them here, and the next relay (or another
-- relay on the same database, once the claim runs out) sends what is left. NULL when nothing is left to send.
ALTER TABLE dispatch_events ADD COLUMN replies TEXT;
CREATE INDEX dispatch_events_replying ON dispatch_events (interaction_seq) WHERE replies IS NOT NULL;
