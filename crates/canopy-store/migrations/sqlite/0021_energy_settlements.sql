-- Settling demand-response events. An event waits for its meter data until
-- its cut-off; it settles once every taking-part household's data is
-- complete, or at the cut-off on what arrived (`settled_complete` false),
-- and again whenever late or corrected data changes its figures
-- (`settled_version` counts the runs). A household's settlement keeps what
-- it was computed from (the baseline method and version, the days used, the
-- baseline and the actuals per interval) and what it came to; its `version`
-- counts the times its figures changed, each change posted to the ledger as
-- a correcting set (cause `settlement`, `dre{event}-m{meter}-v{version}`).
ALTER TABLE energy_events ADD COLUMN cutoff TEXT;
ALTER TABLE energy_events ADD COLUMN settled_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE energy_events ADD COLUMN settled_at TEXT;
ALTER TABLE energy_events ADD COLUMN settled_complete BOOLEAN;
ALTER TABLE energy_events ADD COLUMN checked_at TEXT;
ALTER TABLE energy_events ADD COLUMN interval_savings TEXT;

CREATE TABLE energy_settlements (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES energy_events(id),
    meter INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    status TEXT NOT NULL CHECK (status IN ('settled', 'no_baseline', 'consent_revoked')),
    code TEXT,
    method TEXT NOT NULL,
    days_used TEXT NOT NULL,
    adjustment_milli INTEGER NOT NULL,
    baseline TEXT NOT NULL,
    actual TEXT NOT NULL,
    complete BOOLEAN NOT NULL,
    saving_wh INTEGER NOT NULL CHECK (saving_wh >= 0),
    reward_fen INTEGER NOT NULL CHECK (reward_fen >= 0),
    paid_fen INTEGER NOT NULL CHECK (paid_fen >= 0 AND paid_fen <= reward_fen),
    carbon_grams INTEGER NOT NULL CHECK (carbon_grams >= 0),
    methodology TEXT,
    settled_at TEXT NOT NULL,
    UNIQUE (event_id, meter)
);
CREATE INDEX energy_settlements_by_user ON energy_settlements(user_id, id);
