-- The tables of pgbus/webhookstore. Migrate runs this file with every
-- "pushpull_" replaced by the prefix; every statement is idempotent.

-- A Dispatcher's position per endpoint and topic (Cursors).
CREATE TABLE IF NOT EXISTS pushpull_webhook_cursors (
    key     text        PRIMARY KEY,
    cursor  text        NOT NULL,
    updated timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A Receiver's idempotency claims (Idempotency): pending or done, until
-- expires.
CREATE TABLE IF NOT EXISTS pushpull_webhook_claims (
    key     text        PRIMARY KEY,
    done    boolean     NOT NULL,
    expires timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS pushpull_webhook_claims_expires ON pushpull_webhook_claims (expires);

-- A Dispatcher's dead letters (DeadLetters). record is the message in
-- bus.AppendRecord's form; attempts is the JSON of []webhook.Attempt.
CREATE TABLE IF NOT EXISTS pushpull_webhook_dead_letters (
    endpoint   text        NOT NULL,
    delivery   text        NOT NULL,
    topic      text        NOT NULL,
    message_id text        NOT NULL,
    record     bytea       NOT NULL,
    attempts   jsonb       NOT NULL,
    error      text        NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (endpoint, delivery)
);

-- A Dispatcher's attempt log (Attempts), one row per attempt.
CREATE TABLE IF NOT EXISTS pushpull_webhook_attempts (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint   text        NOT NULL,
    delivery   text        NOT NULL,
    n          integer     NOT NULL,
    at         timestamptz NOT NULL,
    status     integer     NOT NULL,
    latency_ns bigint      NOT NULL,
    error      text        NOT NULL,
    response   bytea       NOT NULL,
    next_ns    bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS pushpull_webhook_attempts_endpoint ON pushpull_webhook_attempts (endpoint, id);
CREATE INDEX IF NOT EXISTS pushpull_webhook_attempts_at ON pushpull_webhook_attempts (at);
