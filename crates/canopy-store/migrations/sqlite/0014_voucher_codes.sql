-- A voucher project's codes, uploaded by its sponsor (through the
-- operator). A project's stock is its codes not voided; a code is issued
-- to one redemption (`redemption_id`, in the writer's transaction), used
-- once at its merchant (`used_at`, `used_by`: the partner), and voided if
-- its redemption is cancelled (it was shown, so it is never issued again).
-- Codes are unique across projects, because a merchant names one by its
-- code alone.
CREATE TABLE voucher_codes (
    code TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    uploaded_at TEXT NOT NULL,
    redemption_id INTEGER,
    issued_at TEXT,
    used_at TEXT,
    used_by INTEGER,
    voided_at TEXT
);
CREATE INDEX voucher_codes_unissued ON voucher_codes(project_id, code) WHERE redemption_id IS NULL;
CREATE INDEX voucher_codes_by_redemption ON voucher_codes(redemption_id) WHERE redemption_id IS NOT NULL;
