-- Year-on-year bill vouchers. A program may pay households whose monthly
-- bill fell by more than its threshold against the same month a year
-- earlier a consumer voucher worth the decrease (× its ratio) from a
-- funded fen pool, usable once at one of its participating shops before
-- it expires; the kWh decrease is credited as verified reduction in the
-- same ledger set. `bill_voucher` holds the rule as JSON (pool_id,
-- threshold_milli, ratio_milli, valid_days, merchants). One voucher per
-- household and month; a voucher the pool could not fund is kept with no
-- code and no value, so the reduction is still credited once.
ALTER TABLE energy_programs ADD COLUMN bill_voucher TEXT;

CREATE TABLE bill_vouchers (
    id INTEGER PRIMARY KEY,
    code TEXT UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    program_id INTEGER NOT NULL REFERENCES energy_programs(id),
    month TEXT NOT NULL,
    face_value_fen INTEGER NOT NULL CHECK (face_value_fen >= 0),
    decrease_fen INTEGER NOT NULL CHECK (decrease_fen >= 0),
    decrease_wh INTEGER NOT NULL CHECK (decrease_wh >= 0),
    carbon_grams INTEGER NOT NULL CHECK (carbon_grams >= 0),
    methodology TEXT,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_by INTEGER,
    UNIQUE (user_id, month)
);
