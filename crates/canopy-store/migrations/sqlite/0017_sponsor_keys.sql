-- Read-only API keys the operator issues to sponsors, so that a sponsor
-- reads its own projects' and campaigns' reports. Only the SHA-256 of a key
-- is stored; the key is shown once.
CREATE TABLE sponsor_keys (
    id INTEGER PRIMARY KEY,
    sponsor_id INTEGER NOT NULL REFERENCES sponsors(id),
    key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
