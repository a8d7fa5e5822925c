-- The journal of posting sets. Every transfer gets a global, gap-free
-- sequence number in commit order (`seq`, from the `transfers` row of
-- `sequences`, updated in the writing transaction under the ledger's
-- advisory lock, so that a rollback returns its numbers and no two writers
-- interleave), moves a positive amount of one unit between any two accounts
-- (citizen or system), and names its cause: an event (partner_id,
-- cause_ref = event id) or, later, a game action, a redemption or a
-- settlement (cause_ref = its id). `posting` is the seq of the first
-- transfer of its set.
--
-- Per-citizen reads use the two partial indexes (an entry only for citizen
-- sides; owner 0, the system, is on one side of every credit).

ALTER TABLE transfers RENAME TO transfers_0001;
DROP TRIGGER transfers_are_immutable ON transfers_0001;

CREATE TABLE transfers (
    seq BIGINT PRIMARY KEY,
    posting BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    debit_owner BIGINT NOT NULL,
    debit_account TEXT COLLATE "C" NOT NULL,
    credit_owner BIGINT NOT NULL,
    credit_account TEXT COLLATE "C" NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    unit TEXT COLLATE "C" NOT NULL,
    cause TEXT COLLATE "C" NOT NULL,
    partner_id BIGINT,
    cause_ref TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL
);

-- The old journal's rows, in id order (ids were assigned in commit order
-- under the ingestion lock), numbered 1..N; each credited event's two
-- transfers were one set.
INSERT INTO transfers (seq, posting, kind, debit_owner, debit_account, credit_owner, credit_account, amount, unit,
                       cause, partner_id, cause_ref, at)
SELECT seq, MIN(seq) OVER (PARTITION BY partner_id, event_id),
       kind, debit_user, debit_account, credit_user, credit_account, grams,
       CASE WHEN credit_account IN ('energy', 'energy_issuance') THEN 'g_energy' ELSE 'g_co2e' END,
       'event', partner_id, COALESCE(event_id, ''), at
FROM (SELECT ROW_NUMBER() OVER (ORDER BY id) AS seq, * FROM transfers_0001) numbered
ORDER BY seq;
DROP TABLE transfers_0001;
UPDATE sequences SET value = (SELECT COUNT(*) FROM transfers) WHERE name = 'transfers';

CREATE INDEX transfers_by_credit_owner ON transfers(credit_owner, seq) WHERE credit_owner <> 0;
CREATE INDEX transfers_by_debit_owner ON transfers(debit_owner, seq) WHERE debit_owner <> 0;
-- A cause posts one set: only each set's first transfer is indexed, so a
-- second set for the same cause is refused. Events are left out: their own
-- primary key already makes them post once, and the hot path pays nothing.
CREATE UNIQUE INDEX transfers_cause_posts_once ON transfers(cause, cause_ref)
    WHERE seq = posting AND cause <> 'event';

CREATE TRIGGER transfers_are_immutable
    BEFORE UPDATE OR DELETE OR TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION canopy_refuse_ledger_change();
