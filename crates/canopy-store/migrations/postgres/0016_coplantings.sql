-- Co-planting plans: friends pool energy into one tree. Ids come from the
-- `coplantings` row of `sequences`, allocated by the writer. A share is
-- `invited`, then `held` (its energy moved to the citizen's held_energy)
-- or `declined`; when the plan closes, held shares become `spent` (the
-- tree was planted) or `released` (declined, expired or failed).
CREATE TABLE coplantings (
    id BIGINT PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    creator BIGINT NOT NULL,
    status TEXT COLLATE "C" NOT NULL CHECK (status IN ('open', 'planted', 'declined', 'expired', 'failed')),
    deadline TEXT COLLATE "C" NOT NULL,
    redemption_id BIGINT,
    created_at TEXT COLLATE "C" NOT NULL,
    closed_at TEXT COLLATE "C"
);
CREATE INDEX coplantings_open ON coplantings(deadline) WHERE status = 'open';
CREATE INDEX coplantings_by_redemption ON coplantings(redemption_id) WHERE redemption_id IS NOT NULL;

CREATE TABLE coplanting_shares (
    plan_id BIGINT NOT NULL REFERENCES coplantings(id),
    user_id BIGINT NOT NULL,
    grams BIGINT NOT NULL CHECK (grams > 0),
    state TEXT COLLATE "C" NOT NULL CHECK (state IN ('invited', 'held', 'declined', 'released', 'spent')),
    answered_at TEXT COLLATE "C",
    PRIMARY KEY (plan_id, user_id)
);
CREATE INDEX coplanting_shares_by_user ON coplanting_shares(user_id, plan_id);
INSERT INTO sequences (name, value) VALUES ('coplantings', 0);
