-- Team challenges: the operator sets a goal over a period; citizens join
-- alone (a team of one) or in teams; at the end every member of a team that
-- reached the goal is paid the reward from the challenge's pool, once
-- (`settled_at` is set in the paying transaction, and each payment's cause
-- `reward:<challenge>:<user>` posts once).
CREATE TABLE challenges (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    metric TEXT NOT NULL,
    category TEXT,
    behavior TEXT,
    goal INTEGER NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    team_size_max INTEGER NOT NULL,
    reward_grams INTEGER NOT NULL,
    pool_id INTEGER NOT NULL REFERENCES pools(id),
    settled_at TEXT,
    paid_grams INTEGER NOT NULL DEFAULT 0,
    pro_rata INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX challenges_unsettled ON challenges(ends_at) WHERE settled_at IS NULL;

CREATE TABLE challenge_teams (
    id INTEGER PRIMARY KEY,
    challenge_id INTEGER NOT NULL REFERENCES challenges(id),
    name TEXT NOT NULL,
    created_by INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX challenge_teams_by_challenge ON challenge_teams(challenge_id, id);

CREATE TABLE challenge_members (
    challenge_id INTEGER NOT NULL REFERENCES challenges(id),
    user_id INTEGER NOT NULL,
    team_id INTEGER NOT NULL REFERENCES challenge_teams(id),
    joined_at TEXT NOT NULL,
    PRIMARY KEY (challenge_id, user_id)
);
CREATE INDEX challenge_members_by_team ON challenge_members(team_id);
