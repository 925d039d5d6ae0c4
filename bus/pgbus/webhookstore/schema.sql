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

-- Attempt fields added with the Store type: the bus message and its type;
-- and, for attempts and dead letters, the nanoseconds of at beyond its
-- microseconds, so that times read back equal the times stored.
ALTER TABLE pushpull_webhook_attempts ADD COLUMN IF NOT EXISTS message text NOT NULL DEFAULT '';
ALTER TABLE pushpull_webhook_attempts ADD COLUMN IF NOT EXISTS type text NOT NULL DEFAULT '';
ALTER TABLE pushpull_webhook_attempts ADD COLUMN IF NOT EXISTS at_nanos integer NOT NULL DEFAULT 0;
ALTER TABLE pushpull_webhook_dead_letters ADD COLUMN IF NOT EXISTS at_nanos integer NOT NULL DEFAULT 0;
-- ListAttempts reads one endpoint from a time, or one delivery of it.
CREATE INDEX IF NOT EXISTS pushpull_webhook_attempts_endpoint_at ON pushpull_webhook_attempts (endpoint, at, at_nanos, id);
CREATE INDEX IF NOT EXISTS pushpull_webhook_attempts_delivery ON pushpull_webhook_attempts (endpoint, delivery, at, at_nanos, id);

-- ListDeadLetters reads from a time, of one endpoint or of all; retention
-- prunes by time.
CREATE INDEX IF NOT EXISTS pushpull_webhook_dead_letters_at ON pushpull_webhook_dead_letters (at, at_nanos);
CREATE INDEX IF NOT EXISTS pushpull_webhook_dead_letters_endpoint_at ON pushpull_webhook_dead_letters (endpoint, at, at_nanos);

-- The endpoint registry (Store): config is the JSON form of
-- webhook.EndpointConfig; version, created and updated are kept beside it
-- and win over the copies in config.
CREATE TABLE IF NOT EXISTS pushpull_webhook_endpoints (
    id      text        PRIMARY KEY,
    config  jsonb       NOT NULL,
    version bigint      NOT NULL,
    created timestamptz NOT NULL,
    updated timestamptz NOT NULL
);

-- The registry's revision: one row, incremented in the transaction of
-- every change, so a reader that sees the new revision sees the change.
-- (A sequence would not do: nextval is visible before its transaction
-- commits.)
CREATE TABLE IF NOT EXISTS pushpull_webhook_revision (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    revision bigint  NOT NULL
);
INSERT INTO pushpull_webhook_revision (one, revision) VALUES (true, 0) ON CONFLICT DO NOTHING;

-- Leases of the Dispatchers sharing the store: key is held by holder until
-- expires, judged by the database's clock.
CREATE TABLE IF NOT EXISTS pushpull_webhook_leases (
    key     text        PRIMARY KEY,
    holder  text        NOT NULL,
    expires timestamptz NOT NULL
);
