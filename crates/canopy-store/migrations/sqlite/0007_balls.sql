-- Energy balls: a credited act's green energy waits in a ball until its
-- owner collects it. Acts of one behaviour recorded on one local day (in
-- the owner's zone) share a ball while it is open. The energy itself is in
-- the ledger (the owner's `balls` account); a ball row says how much of it
-- is in this ball: `grams` went in, friends took `taken_grams`, and when
-- it closed (`outcome` collected or expired) `closed_grams` left with it.
-- Ids come from the `balls` row of `sequences`, allocated by the writer.
CREATE TABLE balls (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    behavior TEXT NOT NULL,
    category TEXT NOT NULL,
    local_date TEXT NOT NULL,
    grams INTEGER NOT NULL CHECK (grams > 0),
    taken_grams INTEGER NOT NULL DEFAULT 0 CHECK (taken_grams >= 0),
    outcome TEXT CHECK (outcome IN ('collected', 'expired')),
    closed_grams INTEGER NOT NULL DEFAULT 0 CHECK (closed_grams >= 0),
    ripens_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
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
    user_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
