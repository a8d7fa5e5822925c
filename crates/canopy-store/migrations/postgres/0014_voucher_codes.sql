-- A voucher project's codes, uploaded by its sponsor (through the
-- operator). A project's stock is its codes not voided; a code is issued
-- to one redemption (`redemption_id`, in the writer's transaction), used
-- once at its merchant (`used_at`, `used_by`: the partner), and voided if
-- its redemption is cancelled (it was shown, so it is never issued again).
-- Codes are unique across projects, because a merchant names one by its
-- code alone.
CREATE TABLE voucher_codes (
    code TEXT COLLATE "C" PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    uploaded_at TEXT COLLATE "C" NOT NULL,
    redemption_id BIGINT,
    issued_at TEXT COLLATE "C",
    used_at TEXT COLLATE "C",
    used_by BIGINT,
    voided_at TEXT COLLATE "C"
);
CREATE INDEX voucher_codes_unissued ON voucher_codes(project_id, code) WHERE redemption_id IS NULL;
CREATE INDEX voucher_codes_by_redemption ON voucher_codes(redemption_id) WHERE redemption_id IS NOT NULL;
