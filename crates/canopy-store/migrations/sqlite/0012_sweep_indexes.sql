-- The medal sweep reads the check-ins since its last look by time (it reads
-- the journal by its key, and each citizen's counters by the journal's
-- citizen indexes; nothing in the sweep scans a table).
CREATE INDEX checkins_by_time ON checkins(at);

-- The minute's purge of expired sessions and link codes reads them by
-- expiry (PostgreSQL has had these indexes from the start).
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);
CREATE INDEX link_codes_expiry ON link_codes(expires_at);
