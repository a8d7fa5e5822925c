-- act_fingerprints keyed (behavior, fingerprint, user_id) instead of
-- (user_id, behavior, fingerprint): fingerprints (trip and order ids) mostly
-- grow over time, so a group's index entries, written in key order, land near
-- the right edge of the B-tree on few pages instead of one page per citizen
-- all over it. Lookups name all three columns, so any order serves them.
-- Measured in BENCHMARKS.md (2026-12-04).

ALTER TABLE act_fingerprints DROP CONSTRAINT act_fingerprints_pkey;
ALTER TABLE act_fingerprints ADD PRIMARY KEY (behavior, fingerprint, user_id);
