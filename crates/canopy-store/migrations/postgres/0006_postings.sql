-- One journal row per posting set (rather than one per transfer): a
-- credited act wrote two rows and four index entries; it now writes one row
-- and two. A set's transfers keep their global, gap-free sequence numbers:
-- `seq` is its first transfer's and `transfers` how many it has, so the set
-- holds seq .. seq + transfers - 1 and the next set starts where it ends.
-- `legs` lists them in order as a JSON array (kept as text: written by the
-- writer, read by the view) of
-- [kind, debit_owner, debit_account, credit_owner, credit_account, amount, unit].
-- `citizen_a` and `citizen_b` are the (at most two) citizens whose accounts
-- the set touches (the core refuses a set touching more), so a citizen's
-- history is read through two partial indexes. The `transfers` view
-- expands the legs, one row per transfer, for checks and reports.

CREATE TABLE postings (
    seq BIGINT PRIMARY KEY,
    transfers INTEGER NOT NULL CHECK (transfers > 0),
    citizen_a BIGINT,
    citizen_b BIGINT,
    cause TEXT COLLATE "C" NOT NULL,
    partner_id BIGINT,
    cause_ref TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    legs TEXT NOT NULL
);

INSERT INTO postings (seq, transfers, citizen_a, citizen_b, cause, partner_id, cause_ref, at, legs)
SELECT posting, COUNT(*),
       MIN(CASE WHEN credit_account IN ('reduction', 'energy') THEN credit_owner END),
       NULLIF(MAX(CASE WHEN credit_account IN ('reduction', 'energy') THEN credit_owner END),
              MIN(CASE WHEN credit_account IN ('reduction', 'energy') THEN credit_owner END)),
       MIN(cause), MIN(partner_id), MIN(cause_ref), MIN(at),
       json_agg(json_build_array(kind, debit_owner, debit_account, credit_owner, credit_account, amount, unit)
                ORDER BY seq)::text
FROM transfers
GROUP BY posting
ORDER BY posting;

DROP TABLE transfers;

CREATE INDEX postings_by_citizen_a ON postings(citizen_a, seq) WHERE citizen_a IS NOT NULL;
CREATE INDEX postings_by_citizen_b ON postings(citizen_b, seq) WHERE citizen_b IS NOT NULL;
-- A cause posts one set. Events are left out: their own primary key
-- already makes them post once, and the hot path pays nothing.
CREATE UNIQUE INDEX postings_cause_posts_once ON postings(cause, cause_ref) WHERE cause <> 'event';

CREATE TRIGGER postings_are_immutable
    BEFORE UPDATE OR DELETE OR TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION canopy_refuse_ledger_change();

CREATE VIEW transfers AS
SELECT p.seq + l.n - 1 AS seq,
       p.seq AS posting,
       l.leg->>0 AS kind,
       (l.leg->>1)::bigint AS debit_owner,
       l.leg->>2 AS debit_account,
       (l.leg->>3)::bigint AS credit_owner,
       l.leg->>4 AS credit_account,
       (l.leg->>5)::bigint AS amount,
       l.leg->>6 AS unit,
       p.cause, p.partner_id, p.cause_ref, p.at
FROM postings p CROSS JOIN LATERAL jsonb_array_elements(p.legs::jsonb) WITH ORDINALITY AS l(leg, n);

-- Events are keyed by the partner's id alone, as on SQLite: the index by
-- citizen that the first release kept as the primary key is read by
-- nothing (a citizen's history is read through the journal), and every
-- credited event paid for a second index entry.
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_idempotency;
