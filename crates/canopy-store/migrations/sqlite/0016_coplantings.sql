-- Co-planting plans: friends pool energy into one tree. Ids come from the
-- `coplantings` row of `sequences`, allocated by the writer. A share is
-- `invited`, then `held` (its energy moved to the citizen's held_energy)
-- or `declined`; when the plan closes, held shares become `spent` (the
-- tree was planted) or `released` (declined, expired or failed).
CREATE TABLE coplantings (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    creator INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'planted', 'declined', 'expired', 'failed')),
    deadline TEXT NOT NULL,
    redemption_id INTEGER,
    created_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE INDEX coplantings_open ON coplantings(deadline) WHERE status = 'open';
CREATE INDEX coplantings_by_redemption ON coplantings(redemption_id) WHERE redemption_id IS NOT NULL;

CREATE TABLE coplanting_shares (
    plan_id INTEGER NOT NULL REFERENCES coplantings(id),
    user_id INTEGER NOT NULL,
    grams INTEGER NOT NULL CHECK (grams > 0),
    state TEXT NOT NULL CHECK (state IN ('invited', 'held', 'declined', 'released', 'spent')),
    answered_at TEXT,
    PRIMARY KEY (plan_id, user_id)
);
CREATE INDEX coplanting_shares_by_user ON coplanting_shares(user_id, plan_id);
INSERT INTO sequences (name, value) VALUES ('coplantings', 0);
