-- Who holds a forwarded item's claim (webhook_events for --events, raw_deliveries for --forward-raw), as
-- dispatch_events.claimed_by: NULL for a relay's forwarder, 'replay' for `lumen events replay ev_N|raw_N`. A relay
-- starting up drops the claims a killed relay left, and only those: a replay running meanwhile keeps its claim.
ALTER TABLE webhook_events ADD COLUMN claimed_by TEXT;
ALTER TABLE raw_deliveries ADD COLUMN claimed_by TEXT;
