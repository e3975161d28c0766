-- Step 6: the write path reshaped (agentlens/rollups.py, agentlens/ingest/store.py).
-- Events gain the fields of OpenTelemetry spans and of cost (trace, provider,
-- cache and reasoning token buckets, cost in integer nano-dollars); spans are
-- unique per trace, so the key becomes (session_id, event_id, trace_id), with
-- trace_id '' for the other formats. Sessions keep their totals as stated
-- (total_tokens_*), their cost, and how many events have no price. The
-- rollups gain cost and the session-start buckets behind filtered analytics.
-- Every total and rollup is then recomputed from the events in Python
-- (agentlens/recount.py), with the rules of agentlens/rules.py.

DROP VIEW activity;

CREATE TABLE events_new (
    id                 INTEGER PRIMARY KEY,  -- arrival order
    session_id         TEXT NOT NULL
                       REFERENCES sessions (session_id) DEFERRABLE INITIALLY DEFERRED,
    trace_id           TEXT NOT NULL DEFAULT '',  -- an OTLP span's trace; '' otherwise
    event_id           TEXT NOT NULL,
    event_type         TEXT NOT NULL,
    ts                 INTEGER NOT NULL,
    parent_id          TEXT,
    model              TEXT,
    provider           TEXT,
    tokens_in          INTEGER,  -- includes cached input
    tokens_out         INTEGER,  -- includes reasoning
    cache_read_tokens  INTEGER,  -- part of tokens_in
    cache_write_tokens INTEGER,  -- part of tokens_in
    reasoning_tokens   INTEGER,  -- part of tokens_out
    cost_nanos         INTEGER,  -- USD * 10^9; NULL when unpriced
    cost_source        TEXT,     -- 'client', or what priced it
    duration_ms        REAL,
    input_data         TEXT,  -- JSON
    output_data        TEXT,  -- JSON
    tool_call          TEXT,  -- JSON
    tool_name          TEXT,  -- tool_call's name or tool_name
    decision_trace     TEXT,  -- JSON
    metadata           TEXT,  -- JSON
    is_error           INTEGER NOT NULL DEFAULT 0,
    source             TEXT NOT NULL,
    UNIQUE (session_id, event_id, trace_id)
);

INSERT INTO events_new (id, session_id, event_id, event_type, ts, parent_id, model, tokens_in,
                        tokens_out, duration_ms, input_data, output_data, tool_call, tool_name,
                        decision_trace, metadata, is_error, source)
SELECT id, session_id, event_id, event_type, ts, parent_id, model, tokens_in, tokens_out,
       duration_ms, input_data, output_data, tool_call, tool_name, decision_trace, metadata,
       is_error, source
FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_by_session ON events (session_id, ts);
CREATE INDEX events_by_trace ON events (trace_id) WHERE trace_id != '';

ALTER TABLE sessions ADD COLUMN total_tokens_in INTEGER NOT NULL DEFAULT 0;   -- as stated
ALTER TABLE sessions ADD COLUMN total_tokens_out INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN cost_nanos INTEGER NOT NULL DEFAULT 0;        -- priced events
ALTER TABLE sessions ADD COLUMN unpriced_events INTEGER NOT NULL DEFAULT 0;   -- tokens, no price

DROP TABLE session_rollup;
DROP TABLE event_rollup;

-- Event rollups (counted events). model is '' for events without one; hour is
-- the event's UTC hour of day; start_day / start_hour are the UTC day / hour
-- numbers (since 1970) of the session's start, agent_name the session's: by
-- agent over all time, and by start bucket over all agents.
CREATE TABLE session_rollup (
    session_id      TEXT NOT NULL
                    REFERENCES sessions (session_id) DEFERRABLE INITIALLY DEFERRED,
    event_type      TEXT NOT NULL,
    model           TEXT NOT NULL,
    hour            INTEGER NOT NULL,
    events          INTEGER NOT NULL,
    tokens_in       INTEGER NOT NULL,
    tokens_out      INTEGER NOT NULL,
    duration_us     INTEGER NOT NULL,  -- sum of durations in integer microseconds
    timed_events    INTEGER NOT NULL,  -- events that carry a duration
    cost_nanos      INTEGER NOT NULL,  -- sum of the priced events' costs
    unpriced_events INTEGER NOT NULL,  -- events with tokens and no price
    unpriced_tokens INTEGER NOT NULL,  -- their tokens in + out
    PRIMARY KEY (session_id, event_type, model, hour)
) WITHOUT ROWID;

CREATE TABLE event_rollup (
    event_type TEXT NOT NULL, model TEXT NOT NULL, hour INTEGER NOT NULL,
    events INTEGER NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    duration_us INTEGER NOT NULL, timed_events INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
    unpriced_events INTEGER NOT NULL, unpriced_tokens INTEGER NOT NULL,
    PRIMARY KEY (event_type, model, hour)
) WITHOUT ROWID;

CREATE TABLE agent_models (
    agent_name TEXT NOT NULL, event_type TEXT NOT NULL, model TEXT NOT NULL,
    events INTEGER NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    duration_us INTEGER NOT NULL, timed_events INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
    unpriced_events INTEGER NOT NULL, unpriced_tokens INTEGER NOT NULL,
    PRIMARY KEY (agent_name, event_type, model)
) WITHOUT ROWID;

CREATE TABLE agent_clock (
    agent_name TEXT NOT NULL, hour INTEGER NOT NULL, events INTEGER NOT NULL,
    PRIMARY KEY (agent_name, hour)
) WITHOUT ROWID;

CREATE TABLE day_models (
    start_day INTEGER NOT NULL, event_type TEXT NOT NULL, model TEXT NOT NULL,
    events INTEGER NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    duration_us INTEGER NOT NULL, timed_events INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
    unpriced_events INTEGER NOT NULL, unpriced_tokens INTEGER NOT NULL,
    PRIMARY KEY (start_day, event_type, model)
) WITHOUT ROWID;

CREATE TABLE day_clock (
    start_day INTEGER NOT NULL, hour INTEGER NOT NULL, events INTEGER NOT NULL,
    PRIMARY KEY (start_day, hour)
) WITHOUT ROWID;

CREATE TABLE hour_models (
    start_hour INTEGER NOT NULL, event_type TEXT NOT NULL, model TEXT NOT NULL,
    events INTEGER NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    duration_us INTEGER NOT NULL, timed_events INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
    unpriced_events INTEGER NOT NULL, unpriced_tokens INTEGER NOT NULL,
    PRIMARY KEY (start_hour, event_type, model)
) WITHOUT ROWID;

CREATE TABLE hour_clock (
    start_hour INTEGER NOT NULL, hour INTEGER NOT NULL, events INTEGER NOT NULL,
    PRIMARY KEY (start_hour, hour)
) WITHOUT ROWID;

-- Session rollups: sessions by agent and status, their events and tokens as
-- the sessions state them, cost, and the wall-clock duration of those that ended.
CREATE TABLE agent_sessions (
    agent_name TEXT NOT NULL, status TEXT NOT NULL,
    sessions INTEGER NOT NULL, events INTEGER NOT NULL, tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL, cost_nanos INTEGER NOT NULL, ended_sessions INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL, min_duration_ms INTEGER, max_duration_ms INTEGER,
    PRIMARY KEY (agent_name, status)
) WITHOUT ROWID;

CREATE TABLE day_sessions (
    start_day INTEGER NOT NULL, agent_name TEXT NOT NULL, status TEXT NOT NULL,
    sessions INTEGER NOT NULL, events INTEGER NOT NULL, tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL, cost_nanos INTEGER NOT NULL, ended_sessions INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL, min_duration_ms INTEGER, max_duration_ms INTEGER,
    PRIMARY KEY (start_day, agent_name, status)
) WITHOUT ROWID;
CREATE INDEX day_sessions_by_agent ON day_sessions (agent_name, start_day);

CREATE TABLE hour_sessions (
    start_hour INTEGER NOT NULL, agent_name TEXT NOT NULL, status TEXT NOT NULL,
    sessions INTEGER NOT NULL, events INTEGER NOT NULL, tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL, cost_nanos INTEGER NOT NULL, ended_sessions INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL, min_duration_ms INTEGER, max_duration_ms INTEGER,
    PRIMARY KEY (start_hour, agent_name, status)
) WITHOUT ROWID;

CREATE TABLE day_totals (
    start_day INTEGER NOT NULL, status TEXT NOT NULL,
    sessions INTEGER NOT NULL, events INTEGER NOT NULL, tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL, cost_nanos INTEGER NOT NULL, ended_sessions INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL, min_duration_ms INTEGER, max_duration_ms INTEGER,
    PRIMARY KEY (start_day, status)
) WITHOUT ROWID;

CREATE TABLE hour_totals (
    start_hour INTEGER NOT NULL, status TEXT NOT NULL,
    sessions INTEGER NOT NULL, events INTEGER NOT NULL, tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL, cost_nanos INTEGER NOT NULL, ended_sessions INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL, min_duration_ms INTEGER, max_duration_ms INTEGER,
    PRIMARY KEY (start_hour, status)
) WITHOUT ROWID;
