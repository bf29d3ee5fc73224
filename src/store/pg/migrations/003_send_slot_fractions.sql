-- Send-rate slots keep the fraction of a millisecond, as on SQLite: at 250 messages a second and more, slots rounded
-- to whole milliseconds would eat the spacing margin.
ALTER TABLE send_slots ALTER COLUMN next_at_ms TYPE DOUBLE PRECISION;
