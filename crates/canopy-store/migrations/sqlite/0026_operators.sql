-- Operator accounts for the web dashboard (`/admin`), created by
-- `canopy operators add`, and their sessions. A session signed in with the
-- admin token has no operator row (operator_id NULL) and the admin role.
CREATE TABLE operators (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst')),
    created_at TEXT NOT NULL
);

CREATE TABLE operator_sessions (
    token_hash TEXT PRIMARY KEY,
    operator_id INTEGER REFERENCES operators(id),
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
