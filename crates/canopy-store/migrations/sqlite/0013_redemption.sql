-- What energy buys (issue 11). Sponsors commit a budget in units and/or
-- fen; a project's stock is allocated against it when the project is made
-- (or a voucher's codes uploaded), so units handed out never exceed it.
CREATE TABLE sponsors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('company', 'foundation', 'government')),
    budget_units INTEGER CHECK (budget_units >= 0),
    budget_fen INTEGER CHECK (budget_fen >= 0),
    committed_units INTEGER NOT NULL DEFAULT 0 CHECK (committed_units >= 0),
    committed_fen INTEGER NOT NULL DEFAULT 0 CHECK (committed_fen >= 0),
    created_at TEXT NOT NULL,
    CHECK (budget_units IS NULL OR committed_units <= budget_units),
    CHECK (budget_fen IS NULL OR committed_fen <= budget_fen)
);
CREATE UNIQUE INDEX sponsors_by_name ON sponsors(name);

-- A project: its stock and what of it is sold (never more: the CHECK is
-- the last line behind the writer's rule), its regions (a JSON array) and
-- its kind's details (a JSON object). Energy spent on it is the project's
-- `project_energy` account in the ledger.
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('tree', 'land', 'voucher', 'donation')),
    title TEXT NOT NULL,
    sponsor_id INTEGER NOT NULL REFERENCES sponsors(id),
    price_grams INTEGER NOT NULL CHECK (price_grams > 0),
    stock INTEGER NOT NULL CHECK (stock >= 0),
    sold INTEGER NOT NULL DEFAULT 0,
    regions TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'paused', 'ended')),
    details TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK (sold >= 0 AND sold <= stock)
);
CREATE INDEX projects_by_kind ON projects(kind, id);

-- Redemptions, ids from the `redemptions` row of `sequences` (allocated by
-- the writer, so only a redemption that posts takes one). A tree, land or
-- donation redemption has a certificate number (unique, unguessable).
CREATE TABLE redemptions (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    energy_grams INTEGER NOT NULL CHECK (energy_grams > 0),
    certificate TEXT UNIQUE,
    voucher_code TEXT,
    show_name INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
    created_at TEXT NOT NULL,
    cancelled_at TEXT
);
CREATE INDEX redemptions_by_user ON redemptions(user_id, id);
CREATE INDEX redemptions_by_project ON redemptions(project_id, created_at);
INSERT INTO sequences (name, value) VALUES ('redemptions', 0);
