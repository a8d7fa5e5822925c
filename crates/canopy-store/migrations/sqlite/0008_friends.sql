-- Friends (issue 10): requests, friendships, blocks, privacy, and the two
-- game moves between friends (a friend taking a share of a ripe ball, and
-- watering a friend with one's own energy). The energy itself moves in the
-- ledger; these tables say who may move it and what each move was.

-- A pending friend request. Answering it (accept or decline) deletes it.
-- `hidden`: sent while the recipient blocks the sender, so only the sender
-- sees it (a block is silent to the blocked person); it never reaches the
-- recipient. AUTOINCREMENT: an answered request's id is never reused.
CREATE TABLE friend_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender INTEGER NOT NULL REFERENCES users(id),
    recipient INTEGER NOT NULL REFERENCES users(id),
    hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    created_at TEXT NOT NULL,
    UNIQUE (sender, recipient),
    CHECK (sender <> recipient)
);
CREATE INDEX friend_requests_by_recipient ON friend_requests(recipient, id);

-- A friendship is stored once in each direction, so a citizen's friends,
-- and whether two citizens are friends, are each one index range.
CREATE TABLE friendships (
    user_id INTEGER NOT NULL REFERENCES users(id),
    friend_id INTEGER NOT NULL REFERENCES users(id),
    since TEXT NOT NULL,
    PRIMARY KEY (user_id, friend_id),
    CHECK (user_id <> friend_id)
) WITHOUT ROWID;

-- `blocker` blocks `blocked`: no friendship, no request reaches the blocker.
CREATE TABLE blocks (
    blocker INTEGER NOT NULL REFERENCES users(id),
    blocked INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (blocker, blocked),
    CHECK (blocker <> blocked)
) WITHOUT ROWID;

-- A citizen's privacy; a citizen without a row has the defaults
-- (forest 'friends', friends_may_collect 1).
CREATE TABLE privacy (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    forest TEXT NOT NULL CHECK (forest IN ('friends', 'nobody')),
    friends_may_collect INTEGER NOT NULL CHECK (friends_may_collect IN (0, 1)),
    updated_at TEXT NOT NULL
);

-- What each friend took from a ball (at most once per ball and friend);
-- the ball's `taken_grams` is the sum of its takes (ledger verify checks).
-- A collector's takes by time answer "taken from friends today".
CREATE TABLE ball_takes (
    ball_id INTEGER NOT NULL REFERENCES balls(id),
    collector INTEGER NOT NULL REFERENCES users(id),
    grams INTEGER NOT NULL CHECK (grams > 0),
    at TEXT NOT NULL,
    PRIMARY KEY (ball_id, collector)
) WITHOUT ROWID;
CREATE INDEX ball_takes_by_collector ON ball_takes(collector, at);

-- Each watering; its ledger cause is `water:<giver>:<id>`. A giver's
-- waterings of one friend by time answer "watered today". Ids come from
-- the `waterings` row of `sequences`, allocated by the writer.
CREATE TABLE waterings (
    id INTEGER PRIMARY KEY,
    giver INTEGER NOT NULL REFERENCES users(id),
    friend INTEGER NOT NULL REFERENCES users(id),
    grams INTEGER NOT NULL CHECK (grams > 0),
    at TEXT NOT NULL
);
CREATE INDEX waterings_by_pair ON waterings(giver, friend, at);
INSERT INTO sequences (name, value) VALUES ('waterings', 0);
