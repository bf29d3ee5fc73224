-- Who holds a dispatch event's claim: NULL for a relay's dispatcher, 'replay' for `lumen events replay` (or the
-- console's). A relay starting up drops the claims a killed relay left, and only those: a replay running meanwhile
-- keeps its claim, so the relay does not deliver that event at the same moment.
ALTER TABLE dispatch_events ADD COLUMN claimed_by TEXT;
