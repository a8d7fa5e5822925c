-- Monthly electricity bills a utility partner sends for a linked household
-- (the year-on-year voucher's basis): one per household and month, the
-- energy in Wh and the amount in fen.
CREATE TABLE energy_bills (
    user_id INTEGER NOT NULL REFERENCES users(id),
    month TEXT NOT NULL,
    partner_id INTEGER NOT NULL REFERENCES partners(id),
    wh INTEGER NOT NULL CHECK (wh >= 0),
    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
    received_at TEXT NOT NULL,
    PRIMARY KEY (user_id, month)
);
