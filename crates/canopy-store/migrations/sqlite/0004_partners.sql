-- Partners operate in registered regions, and their signing secrets move to
-- a table of their own so that a partner can hold several at once while it
-- rotates (issue 9).

-- The ISO 3166-2 codes a partner may name as an event's region besides the
-- citizen's own, comma-separated ('' for none).
ALTER TABLE partners ADD COLUMN regions TEXT NOT NULL DEFAULT '';

-- A partner's HMAC secrets. `secret` is sealed with the operator's key
-- (`v1.` followed by hex nonce and ciphertext); the rows copied below are in
-- clear until the server seals them at its next start. A secret verifies
-- while `retired_at` is null and `expires_at` is null or in the future.
CREATE TABLE partner_secrets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id INTEGER NOT NULL REFERENCES partners(id),
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    retired_at TEXT
);
CREATE INDEX partner_secrets_by_partner ON partner_secrets(partner_id);
INSERT INTO partner_secrets (partner_id, secret, created_at) SELECT id, secret, created_at FROM partners;
ALTER TABLE partners DROP COLUMN secret;

-- A fixed text sealed with the operator's key, so that a server started
-- with another key stops at once instead of failing every signature.
CREATE TABLE secret_key_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sealed TEXT NOT NULL
);
