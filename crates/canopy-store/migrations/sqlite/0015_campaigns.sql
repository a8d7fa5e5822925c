-- Campaigns matched by retired carbon credits. Citizens' contributions
-- are ledger transfers into the campaign's `campaign_energy` account (ids
-- from the `contributions` row of `sequences`, allocated by the writer);
-- the sponsor's retirements are recorded with their serial ranges, which
-- never overlap within a registry's series (`retirement_registries` has a
-- row per registry that a recording locks, so two recordings take turns).
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    beneficiary TEXT NOT NULL,
    goal_grams INTEGER NOT NULL CHECK (goal_grams > 0),
    per_person_limit_grams INTEGER NOT NULL CHECK (per_person_limit_grams > 0),
    ratio_milli INTEGER NOT NULL CHECK (ratio_milli > 0),
    sponsor_id INTEGER NOT NULL REFERENCES sponsors(id),
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE campaign_contributions (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    user_id INTEGER NOT NULL,
    grams INTEGER NOT NULL CHECK (grams > 0),
    at TEXT NOT NULL
);
CREATE INDEX campaign_contributions_by_citizen ON campaign_contributions(campaign_id, user_id);
INSERT INTO sequences (name, value) VALUES ('contributions', 0);

CREATE TABLE retirement_registries (
    name TEXT PRIMARY KEY
);

CREATE TABLE campaign_retirements (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    registry TEXT NOT NULL REFERENCES retirement_registries(name),
    series TEXT NOT NULL,
    serial_first TEXT NOT NULL,
    serial_last TEXT NOT NULL,
    first_number INTEGER NOT NULL,
    last_number INTEGER NOT NULL,
    quantity_t INTEGER NOT NULL CHECK (quantity_t > 0),
    retired_at TEXT NOT NULL,
    beneficiary TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    CHECK (last_number >= first_number)
);
CREATE INDEX campaign_retirements_by_series ON campaign_retirements(registry, series, first_number);
CREATE INDEX campaign_retirements_by_campaign ON campaign_retirements(campaign_id, id);
