-- A VEN reports for a utility partner's meters (`partner_id`): the USAGE
-- intervals of its OpenADR reports become that partner's meter readings.
-- Each report is kept as received (the OpenADR JSON), with the VEN and the
-- event it answers.
ALTER TABLE vens ADD COLUMN partner_id INTEGER REFERENCES partners(id);

CREATE TABLE ven_reports (
    id INTEGER PRIMARY KEY,
    ven_id INTEGER NOT NULL REFERENCES vens(id),
    event_id INTEGER NOT NULL REFERENCES energy_events(id),
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX ven_reports_by_event ON ven_reports(event_id, id);
