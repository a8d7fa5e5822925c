-- Medals earned: one row per citizen, medal and period (`once` for a
-- medal earned once in a lifetime, `2026-12` for a calendar month, …), so
-- a medal is awarded once per period whatever retries or re-evaluations do.
CREATE TABLE medals_awarded (
    user_id INTEGER NOT NULL,
    medal_id TEXT NOT NULL,
    period_key TEXT NOT NULL,
    earned_at TEXT NOT NULL,
    PRIMARY KEY (user_id, medal_id, period_key)
);
