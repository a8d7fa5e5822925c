-- One journal row per posting set (rather than one per transfer): a
-- credited act wrote two rows and four index entries; it now writes one row
-- and two. A set's transfers keep their global, gap-free sequence numbers:
-- `seq` is its first transfer's and `transfers` how many it has, so the set
-- holds seq .. seq + transfers - 1 and the next set starts where it ends.
-- `legs` lists them in order as a JSON array of
-- [kind, debit_owner, debit_account, credit_owner, credit_account, amount, unit].
-- `citizen_a` and `citizen_b` are the (at most two) citizens whose accounts
-- the set touches (the core refuses a set touching more), so a citizen's
-- history is read through two partial indexes. The `transfers` view
-- expands the legs, one row per transfer, for checks and reports.

CREATE TABLE postings (
    seq INTEGER PRIMARY KEY,
    transfers INTEGER NOT NULL CHECK (typeof(transfers) = 'integer' AND transfers > 0),
    citizen_a INTEGER,
    citizen_b INTEGER,
    cause TEXT NOT NULL,
    partner_id INTEGER,
    cause_ref TEXT NOT NULL,
    at TEXT NOT NULL,
    legs TEXT NOT NULL
);

INSERT INTO postings (seq, transfers, citizen_a, citizen_b, cause, partner_id, cause_ref, at, legs)
SELECT posting, COUNT(*),
       MIN(CASE WHEN credit_account IN ('reduction', 'energy') THEN credit_owner END),
       NULLIF(MAX(CASE WHEN credit_account IN ('reduction', 'energy') THEN credit_owner END),
              MIN(CASE WHEN credit_account IN ('reduction', 'energy') THEN credit_owner END)),
       cause, partner_id, cause_ref, at,
       json_group_array(json_array(kind, debit_owner, debit_account, credit_owner, credit_account, amount, unit))
FROM (SELECT * FROM transfers ORDER BY seq)
GROUP BY posting
ORDER BY posting;

DROP TABLE transfers;

CREATE INDEX postings_by_citizen_a ON postings(citizen_a, seq) WHERE citizen_a IS NOT NULL;
CREATE INDEX postings_by_citizen_b ON postings(citizen_b, seq) WHERE citizen_b IS NOT NULL;
-- A cause posts one set. Events are left out: their own primary key
-- already makes them post once, and the hot path pays nothing.
CREATE UNIQUE INDEX postings_cause_posts_once ON postings(cause, cause_ref) WHERE cause <> 'event';

CREATE TRIGGER postings_are_immutable_update BEFORE UPDATE ON postings
BEGIN SELECT RAISE(ABORT, 'ledger transfers are append-only'); END;
CREATE TRIGGER postings_are_immutable_delete BEFORE DELETE ON postings
BEGIN SELECT RAISE(ABORT, 'ledger transfers are append-only'); END;

CREATE VIEW transfers AS
SELECT p.seq + CAST(l.key AS INTEGER) AS seq,
       p.seq AS posting,
       json_extract(l.value, '$[0]') AS kind,
       json_extract(l.value, '$[1]') AS debit_owner,
       json_extract(l.value, '$[2]') AS debit_account,
       json_extract(l.value, '$[3]') AS credit_owner,
       json_extract(l.value, '$[4]') AS credit_account,
       json_extract(l.value, '$[5]') AS amount,
       json_extract(l.value, '$[6]') AS unit,
       p.cause, p.partner_id, p.cause_ref, p.at
FROM postings p, json_each(p.legs) l;
