-- The tables and function of pgbus. Migrate runs this file with every
-- "pushpull_" replaced by the Broker's Prefix; teams that run their own
-- migrations apply it themselves (after the same replacement). Every
-- statement is idempotent.

-- One row per topic: its epoch, the offset of its newest message (top), and
-- the oldest offset still retained (first; top+1 when nothing is). Publish
-- updates the row, which locks it until the transaction ends: that lock is
-- what makes offsets contiguous (see doc.go).
CREATE TABLE IF NOT EXISTS pushpull_topics (
    topic   text        PRIMARY KEY,
    epoch   text        NOT NULL,
    top     bigint      NOT NULL,
    first   bigint      NOT NULL,
    touched timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The retained messages: offsets first..top of each topic, in the topic's
-- current epoch. record is bus.AppendRecord's form; at is when the row was
-- written, by the server's clock, for HistoryTTL.
CREATE TABLE IF NOT EXISTS pushpull_messages (
    topic    text        NOT NULL,
    "offset" bigint      NOT NULL,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    record   bytea       NOT NULL,
    PRIMARY KEY (topic, "offset")
);

-- pushpull_publish appends one message to a topic in the caller's
-- transaction and returns its epoch and offset. It locks the topic's row
-- (SELECT ... FOR UPDATE) before it reads the top, so concurrent publishers
-- of a topic take turns and each gets the offset after the last committed
-- one; a transaction that rolls back releases the lock and its offset with
-- it. A new topic gets p_epoch, and rows left of an earlier epoch are
-- removed. Messages beyond p_size are trimmed from the start. The
-- notification (channel pushpull_bus, payload "<topic> <epoch> <offset>
-- [<base64 record>]", the record only when it fits) is sent when the
-- transaction commits, and never when it rolls back.
CREATE OR REPLACE FUNCTION pushpull_publish(p_topic text, p_epoch text, p_record bytea, p_size bigint)
RETURNS TABLE (epoch text, "offset" bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_epoch   text;
    v_top     bigint;
    v_old     bigint;
    v_first   bigint;
    v_payload text;
BEGIN
    SELECT t.epoch, t.top, t.first INTO v_epoch, v_top, v_old
        FROM pushpull_topics t WHERE t.topic = p_topic FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO pushpull_topics (topic, epoch, top, first)
            VALUES (p_topic, p_epoch, 0, 1) ON CONFLICT (topic) DO NOTHING;
        IF FOUND THEN
            DELETE FROM pushpull_messages m WHERE m.topic = p_topic;
            v_epoch := p_epoch; v_top := 0; v_old := 1;
        ELSE
            -- Another publisher created it first, and committed.
            SELECT t.epoch, t.top, t.first INTO STRICT v_epoch, v_top, v_old
                FROM pushpull_topics t WHERE t.topic = p_topic FOR UPDATE;
        END IF;
    END IF;
    v_top := v_top + 1;
    v_first := greatest(v_old, v_top + 1 - p_size);
    UPDATE pushpull_topics t SET top = v_top, first = v_first, touched = clock_timestamp()
        WHERE t.topic = p_topic;
    IF v_first > v_old THEN
        DELETE FROM pushpull_messages m
            WHERE m.topic = p_topic AND m."offset" >= v_old AND m."offset" < v_first;
    END IF;
    INSERT INTO pushpull_messages (topic, "offset", record) VALUES (p_topic, v_top, p_record);
    v_payload := p_topic || ' ' || v_epoch || ' ' || v_top;
    IF length(p_record) <= 5600 THEN
        v_payload := v_payload || ' ' || translate(encode(p_record, 'base64'), E'\n', '');
    END IF;
    PERFORM pg_notify('pushpull_bus', v_payload);
    RETURN QUERY SELECT v_epoch, v_top;
END
$fn$;

-- pushpull_expire removes the messages of a topic written before p_cutoff,
-- at most p_max of them, from the start of its history (so what remains is
-- still contiguous), and returns how many it removed.
CREATE OR REPLACE FUNCTION pushpull_expire(p_topic text, p_cutoff timestamptz, p_max bigint)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_top   bigint;
    v_first bigint;
    v_keep  bigint;
BEGIN
    SELECT t.top, t.first INTO v_top, v_first
        FROM pushpull_topics t WHERE t.topic = p_topic FOR UPDATE;
    IF NOT FOUND OR v_first > v_top THEN
        RETURN 0;
    END IF;
    SELECT min(s."offset") INTO v_keep FROM (
        SELECT m."offset", m.at FROM pushpull_messages m
            WHERE m.topic = p_topic AND m."offset" >= v_first
            ORDER BY m."offset" LIMIT p_max
    ) s WHERE s.at >= p_cutoff;
    IF v_keep IS NULL THEN
        v_keep := least(v_top + 1, v_first + p_max);
    END IF;
    IF v_keep <= v_first THEN
        RETURN 0;
    END IF;
    UPDATE pushpull_topics t SET first = v_keep WHERE t.topic = p_topic;
    DELETE FROM pushpull_messages m
        WHERE m.topic = p_topic AND m."offset" >= v_first AND m."offset" < v_keep;
    RETURN v_keep - v_first;
END
$fn$;
