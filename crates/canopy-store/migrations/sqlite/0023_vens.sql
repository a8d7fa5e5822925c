-- OpenADR 3.1 VENs (virtual end nodes: aggregators, home energy managers,
-- smart devices) the operator registers. A VEN authenticates with OAuth2
-- client credentials: its client id, and a secret kept only as its SHA-256
-- (a random 256-bit secret needs no slow hash). The bearer tokens it gets
-- are kept the same way, with their expiry.
CREATE TABLE vens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE ven_tokens (
    token_hash TEXT PRIMARY KEY,
    ven_id INTEGER NOT NULL REFERENCES vens(id),
    expires_at TEXT NOT NULL
);
CREATE INDEX ven_tokens_by_expiry ON ven_tokens(expires_at);
