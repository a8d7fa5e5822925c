-- Demand-response programs (a reward per kWh saved, paid in fen from a
-- funded pool; a baseline method; whether households take part unless they
-- say no) and their events (a window of 15-minute slots). An event's
-- participants are the targeted households' meters, invited (an event in
-- the future) or not (an event recorded after the fact), with their answer.
CREATE TABLE energy_programs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    reward_fen_per_kwh INTEGER NOT NULL CHECK (reward_fen_per_kwh >= 0),
    baseline_method TEXT NOT NULL,
    day_of_adjustment BOOLEAN NOT NULL,
    emission_factor_source TEXT NOT NULL,
    pool_id INTEGER NOT NULL REFERENCES pools(id),
    opt_in TEXT NOT NULL CHECK (opt_in IN ('required', 'default_in')),
    created_at TEXT NOT NULL
);

CREATE TABLE energy_events (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES energy_programs(id),
    start_slot INTEGER NOT NULL,
    intervals INTEGER NOT NULL CHECK (intervals > 0),
    invitations_at TEXT,
    respond_by TEXT,
    recorded BOOLEAN NOT NULL,
    target_region TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX energy_events_by_program ON energy_events(program_id, id);

CREATE TABLE energy_participants (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES energy_events(id),
    user_id INTEGER NOT NULL,
    meter INTEGER NOT NULL,
    invited BOOLEAN NOT NULL,
    answer TEXT CHECK (answer IN ('in', 'out')),
    answered_at TEXT,
    UNIQUE (event_id, meter)
);
CREATE INDEX energy_participants_by_user ON energy_participants(user_id, id);
