-- Household power saving: smart meters a utility partner registers for its
-- linked households, and their 15-minute readings. A reading is keyed by
-- (meter, slot): the meter's internal id and the interval's number of
-- 15-minute steps since the Unix epoch, both integers, with the energy in
-- whole Wh and the quality as 0 (actual) or 1 (estimated) — 96 compact
-- rows a household a day. An estimate replaced by a later value is kept in
-- `meter_reading_history`.
CREATE TABLE meters (
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL REFERENCES partners(id),
    meter_id TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    region TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    UNIQUE (partner_id, meter_id)
);
CREATE INDEX meters_by_user ON meters(user_id);

CREATE TABLE meter_readings (
    meter INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    wh INTEGER NOT NULL CHECK (wh >= 0),
    quality INTEGER NOT NULL CHECK (quality IN (0, 1)),
    received_at INTEGER NOT NULL,
    PRIMARY KEY (meter, slot)
) WITHOUT ROWID;

CREATE TABLE meter_reading_history (
    meter INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    wh INTEGER NOT NULL,
    quality INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    replaced_at INTEGER NOT NULL
);
CREATE INDEX meter_reading_history_by_interval ON meter_reading_history(meter, slot);
