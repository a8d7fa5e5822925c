-- Energy balls: a credited act's green energy waits in a ball until its
-- owner collects it. Acts of one behaviour recorded on one local day (in
-- the owner's zone) share a ball while it is open. The energy itself is in
-- the ledger (the owner's `balls` account); a ball row says how much of it
-- is in this ball: `grams` went in, friends took `taken_grams`, and when
-- it closed (`outcome` collected or expired) `closed_grams` left with it.
-- Ids come from the `balls` row of `sequences`, allocated by the writer.
CREATE TABLE balls (
    id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    behavior TEXT COLLATE "C" NOT NULL,
    category TEXT COLLATE "C" NOT NULL,
    local_date TEXT COLLATE "C" NOT NULL,
    grams BIGINT NOT NULL CHECK (grams > 0),
    taken_grams BIGINT NOT NULL DEFAULT 0 CHECK (taken_grams >= 0),
    outcome TEXT COLLATE "C" CHECK (outcome IN ('collected', 'expired')),
    closed_grams BIGINT NOT NULL DEFAULT 0 CHECK (closed_grams >= 0),
    ripens_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    CHECK (taken_grams + closed_grams <= grams)
);
-- The open ball of a key (energy joins it), and a citizen's balls.
CREATE INDEX balls_by_key ON balls(user_id, behavior, local_date);
-- The sweep finds open balls past their expiry.
CREATE INDEX balls_open_by_expiry ON balls(expires_at) WHERE outcome IS NULL;
INSERT INTO sequences (name, value) VALUES ('balls', 0);

-- Client-supplied idempotency keys of operations that move energy: the
-- first answer is kept and given again to a retry with the same key and
-- the same request; the same key with another request is refused.
CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    request_hash TEXT COLLATE "C" NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, key)
);
