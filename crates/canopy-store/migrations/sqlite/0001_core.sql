-- Canopy core schema (SQLite). Timestamps are RFC 3339 text in UTC; grams are
-- integers. Every per-citizen table carries user_id; ledger rows are never
-- updated or deleted.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL,
    region TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE partners (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    categories INTEGER NOT NULL,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Signatures seen in the last few minutes, so that a replay is refused.
CREATE TABLE request_signatures (
    signature TEXT PRIMARY KEY,
    partner_id INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX request_signatures_expiry ON request_signatures(expires_at);

-- A citizen's consent to one partner: scopes as a category bit mask.
CREATE TABLE consents (
    user_id INTEGER NOT NULL REFERENCES users(id),
    partner_id INTEGER NOT NULL REFERENCES partners(id),
    scopes INTEGER NOT NULL,
    granted_at TEXT NOT NULL,
    revoked_at TEXT,
    PRIMARY KEY (user_id, partner_id)
) WITHOUT ROWID;

-- Single-use codes that let a partner bind its user reference.
CREATE TABLE link_codes (
    code_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    partner_id INTEGER NOT NULL REFERENCES partners(id),
    expires_at TEXT NOT NULL,
    used_at TEXT
) WITHOUT ROWID;

-- A partner's own reference for a citizen. One reference names one citizen
-- for ever; a citizen has at most one reference per partner.
CREATE TABLE partner_links (
    partner_id INTEGER NOT NULL REFERENCES partners(id),
    user_ref TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    linked_at TEXT NOT NULL,
    PRIMARY KEY (partner_id, user_ref)
) WITHOUT ROWID;
CREATE UNIQUE INDEX partner_links_by_user ON partner_links(user_id, partner_id);

-- Every published methodology version, as published.
CREATE TABLE methodologies (
    id TEXT NOT NULL,
    version TEXT NOT NULL,
    source_name TEXT NOT NULL,
    source_text TEXT NOT NULL,
    origin TEXT NOT NULL,
    published_at TEXT NOT NULL,
    PRIMARY KEY (id, version)
) WITHOUT ROWID;

-- Accepted events (credited or capped). Rejected events are not stored, so a
-- partner may fix and resend them under the same id.
CREATE TABLE events (
    partner_id INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    behavior TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    region TEXT NOT NULL,
    inputs TEXT NOT NULL,
    fingerprint TEXT,
    methodology TEXT NOT NULL,
    grams INTEGER NOT NULL CHECK (grams >= 0),
    outcome TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (partner_id, event_id)
) WITHOUT ROWID;

-- The real-world acts already credited to a citizen.
CREATE TABLE act_fingerprints (
    user_id INTEGER NOT NULL,
    behavior TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    partner_id INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (user_id, behavior, fingerprint)
) WITHOUT ROWID;

-- Per-citizen cap counters: period is `YYYY-MM-DD` or `YYYY-MM`.
CREATE TABLE cap_usage (
    user_id INTEGER NOT NULL,
    behavior TEXT NOT NULL,
    period TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    grams INTEGER NOT NULL CHECK (grams >= 0),
    PRIMARY KEY (user_id, behavior, period)
) WITHOUT ROWID;

-- Account balances, kept with the transfers in the same transaction.
-- user_id 0 owns the operator's issuance accounts.
CREATE TABLE accounts (
    user_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    debits INTEGER NOT NULL DEFAULT 0,
    credits INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, kind)
) WITHOUT ROWID;

-- The append-only double-entry journal, keyed by citizen so that a
-- citizen's entries are one range of one B-tree (and the citizen id is the
-- distribution column when the table is sharded). Ids come from
-- `sequences` in ranges, one range per group commit.
CREATE TABLE transfers (
    user_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    debit_user INTEGER NOT NULL,
    debit_account TEXT NOT NULL,
    credit_user INTEGER NOT NULL,
    credit_account TEXT NOT NULL,
    grams INTEGER NOT NULL CHECK (grams > 0),
    partner_id INTEGER,
    event_id TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;

CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO sequences (name, value) VALUES ('transfers', 0);

CREATE TRIGGER transfers_are_immutable_update BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'ledger transfers are append-only'); END;
CREATE TRIGGER transfers_are_immutable_delete BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'ledger transfers are append-only'); END;
