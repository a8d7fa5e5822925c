-- act_fingerprints keyed (behavior, fingerprint, user_id) instead of
-- (user_id, behavior, fingerprint). The table is clustered by its key
-- (WITHOUT ROWID), and the writer inserts a group's rows in key order: with
-- the citizen first, a group of thousands of events spread over thousands of
-- citizens dirtied a page per row all over the tree; fingerprints (trip and
-- order ids) mostly grow over time, so with them first a group's rows land
-- near the end of the tree, on few pages. Lookups name all three columns, so
-- any order serves them. Measured in BENCHMARKS.md (2026-12-04).

CREATE TABLE act_fingerprints_0005 (
    behavior TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    partner_id INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (behavior, fingerprint, user_id)
) WITHOUT ROWID;

INSERT INTO act_fingerprints_0005 (behavior, fingerprint, user_id, partner_id, event_id)
SELECT behavior, fingerprint, user_id, partner_id, event_id FROM act_fingerprints
ORDER BY behavior, fingerprint, user_id;
DROP TABLE act_fingerprints;
ALTER TABLE act_fingerprints_0005 RENAME TO act_fingerprints;
