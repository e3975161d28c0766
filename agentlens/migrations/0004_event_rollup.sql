-- Step 4: the rollup of step 2 summed over sessions, for /analytics without
-- filters: a few hundred rows whatever the number of sessions. store_batch
-- keeps it with the same statement as session_rollup.

CREATE TABLE event_rollup (
    event_type     TEXT NOT NULL,
    model          TEXT NOT NULL,
    hour           INTEGER NOT NULL,
    events         INTEGER NOT NULL,
    tokens_in      INTEGER NOT NULL,
    tokens_out     INTEGER NOT NULL,
    duration_us    INTEGER NOT NULL,
    timed_events   INTEGER NOT NULL,
    PRIMARY KEY (event_type, model, hour)
) WITHOUT ROWID;

INSERT INTO event_rollup
SELECT event_type, model, hour, sum(events), sum(tokens_in), sum(tokens_out),
       sum(duration_us), sum(timed_events)
FROM session_rollup
GROUP BY event_type, model, hour;
