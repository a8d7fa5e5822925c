-- The journal of posting sets. Every transfer gets a global, gap-free
-- sequence number in commit order (`seq`, from the `transfers` row of
-- `sequences`, updated in the writing transaction so that a rollback
-- returns its numbers), moves a positive amount of one unit between any two
-- accounts (citizen or system), and names its cause: an event
-- (partner_id, cause_ref = event id) or, later, a game action, a
-- redemption or a settlement (cause_ref = its id). `posting` is the seq of
-- the first transfer of its set, so a set's transfers can be told apart
-- from another set with the same cause.
--
-- A rowid table: appends go to the end of one B-tree. Per-citizen reads use
-- the two partial indexes (an entry only for citizen sides; owner 0, the
-- system, is on one side of every credit and is never paged).

ALTER TABLE transfers RENAME TO transfers_0001;

CREATE TABLE transfers (
    seq INTEGER PRIMARY KEY,
    posting INTEGER NOT NULL,
    kind TEXT NOT NULL,
    debit_owner INTEGER NOT NULL,
    debit_account TEXT NOT NULL,
    credit_owner INTEGER NOT NULL,
    credit_account TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    unit TEXT NOT NULL,
    cause TEXT NOT NULL,
    partner_id INTEGER,
    cause_ref TEXT NOT NULL,
    at TEXT NOT NULL
);

-- The old journal's rows, in id order (ids were assigned in commit order),
-- numbered 1..N; each credited event's two transfers were one set.
INSERT INTO transfers (seq, posting, kind, debit_owner, debit_account, credit_owner, credit_account, amount, unit,
                       cause, partner_id, cause_ref, at)
SELECT seq, MIN(seq) OVER (PARTITION BY partner_id, event_id),
       kind, debit_user, debit_account, credit_user, credit_account, grams,
       CASE WHEN credit_account IN ('energy', 'energy_issuance') THEN 'g_energy' ELSE 'g_co2e' END,
       'event', partner_id, COALESCE(event_id, ''), at
FROM (SELECT ROW_NUMBER() OVER (ORDER BY id) AS seq, * FROM transfers_0001)
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

CREATE TRIGGER transfers_are_immutable_update BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'ledger transfers are append-only'); END;
CREATE TRIGGER transfers_are_immutable_delete BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'ledger transfers are append-only'); END;

-- Account totals must stay integers: SQLite turns an overflowing integer sum
-- into a REAL, which would make a balance unreadable. The writer checks sums
-- before it writes; this refuses what slips past.
CREATE TRIGGER accounts_stay_integer_insert BEFORE INSERT ON accounts
WHEN typeof(NEW.debits) <> 'integer' OR typeof(NEW.credits) <> 'integer'
BEGIN SELECT RAISE(ABORT, 'account totals must be integers'); END;
CREATE TRIGGER accounts_stay_integer_update BEFORE UPDATE ON accounts
WHEN typeof(NEW.debits) <> 'integer' OR typeof(NEW.credits) <> 'integer'
BEGIN SELECT RAISE(ABORT, 'account totals must be integers'); END;
