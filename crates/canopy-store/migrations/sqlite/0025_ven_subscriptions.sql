-- OpenADR 3.1 subscriptions: a VEN asks to be told when programs or events
-- are created or updated (`request` is its SubscriptionRequest, as
-- accepted), optionally for one program only.
CREATE TABLE ven_subscriptions (
    id INTEGER PRIMARY KEY,
    ven_id INTEGER NOT NULL REFERENCES vens(id),
    program_id INTEGER REFERENCES energy_programs(id),
    request TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL
);
CREATE INDEX ven_subscriptions_by_ven ON ven_subscriptions(ven_id, id);

-- The outbox of webhook notifications: one row a subscription's callback
-- and operation, written after the operation, delivered by whichever
-- server claims it first (`claimed_until`), retried with backoff until
-- delivered or given up (`failed_at`). A deleted subscription's pending
-- rows go with it.
CREATE TABLE ven_notifications (
    id INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL,
    callback_url TEXT NOT NULL,
    bearer_token TEXT,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at TEXT NOT NULL,
    claimed_until TEXT,
    delivered_at TEXT,
    failed_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX ven_notifications_due ON ven_notifications(due_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX ven_notifications_by_subscription ON ven_notifications(subscription_id, id);

-- A VEN asks for the events its meters take part in (`targets`).
CREATE INDEX energy_participants_by_meter ON energy_participants(meter, event_id);
