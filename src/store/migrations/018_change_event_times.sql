-- When Meta says the last change of each webhook field applied to a template or a number's facts happened (the
-- entry's `time`), as JSON {"<field>": "<ISO time>"}: an older change of that field (a late retry, or signed bytes
-- posted again) is stale and changes nothing, so a template approved since is never paused again by an old event.
ALTER TABLE templates ADD COLUMN event_times TEXT;
ALTER TABLE account_facts ADD COLUMN event_times TEXT;
