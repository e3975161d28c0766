-- Step 2: per-session rollup of counted events, so /analytics reads a few
-- rows per session instead of every event. Kept exact by store_batch, which
-- moves it only by the events a transaction really inserts (or amends).
-- Durations are summed in integer microseconds so that adding and taking out
-- leaves no floating-point residue.

CREATE TABLE session_rollup (
    session_id     TEXT NOT NULL
                   REFERENCES sessions (session_id) DEFERRABLE INITIALLY DEFERRED,
    event_type     TEXT NOT NULL,
    model          TEXT NOT NULL,     -- '' for events without a model
    hour           INTEGER NOT NULL,  -- hour of day of the event, UTC (floor-correct before 1970)
    events         INTEGER NOT NULL,
    tokens_in      INTEGER NOT NULL,
    tokens_out     INTEGER NOT NULL,
    duration_us    INTEGER NOT NULL,  -- sum of duration_ms * 1000
    timed_events   INTEGER NOT NULL,  -- events that carry a duration_ms
    PRIMARY KEY (session_id, event_type, model, hour)
) WITHOUT ROWID;

INSERT INTO session_rollup
SELECT session_id, event_type, coalesce(model, ''), (ts % 86400000 + 86400000) % 86400000 / 3600000,
       count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),
       coalesce(sum(CAST(round(duration_ms * 1000) AS INTEGER)), 0), count(duration_ms)
FROM activity
GROUP BY 1, 2, 3, 4;

CREATE INDEX sessions_by_agent ON sessions (agent_name, started_at);
