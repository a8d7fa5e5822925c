-- One methodology registry for every server on one database.

-- A supersession is its own recorded fact: from `effective_from`, version
-- `new_version` of methodology `id` replaces `old_version`, whose published
-- text is unchanged. A version is superseded at most once.
CREATE TABLE methodology_supersessions (
    id TEXT NOT NULL,
    old_version TEXT NOT NULL,
    new_version TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (id, old_version),
    FOREIGN KEY (id, old_version) REFERENCES methodologies(id, version),
    FOREIGN KEY (id, new_version) REFERENCES methodologies(id, version)
) WITHOUT ROWID;

-- The registry's version: bumped in every publication's transaction (whose
-- update of this one row also serialises publications), read by every
-- ingestion group, which reloads the registry when it changed.
CREATE TABLE methodology_registry (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    version INTEGER NOT NULL
);
INSERT INTO methodology_registry (singleton, version) VALUES (1, 0);
