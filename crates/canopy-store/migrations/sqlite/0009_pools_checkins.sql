-- Funded pools: every game reward is a transfer out of a pool, and a pool
-- never goes negative (its account, `pool_energy` or `pool_fen` under the
-- pool's id, is one the ledger keeps at or above zero). A sponsor funds a
-- pool from the system's sponsorship account; `fundings` numbers the
-- fundings, so each posts once. `purpose` names the one pool that pays a
-- kind of reward (`checkins`).
CREATE TABLE pools (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    sponsor TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('energy_grams', 'fen')),
    purpose TEXT,
    fundings INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX pools_one_per_purpose ON pools(purpose) WHERE purpose IS NOT NULL;

-- One check-in per citizen and local day; the streak it made and the
-- reward the check-in pool paid for it.
CREATE TABLE checkins (
    user_id INTEGER NOT NULL,
    date TEXT NOT NULL,
    streak_days INTEGER NOT NULL CHECK (streak_days > 0),
    reward_grams INTEGER NOT NULL CHECK (reward_grams >= 0),
    unpaid_grams INTEGER NOT NULL DEFAULT 0 CHECK (unpaid_grams >= 0),
    note TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (user_id, date)
);
