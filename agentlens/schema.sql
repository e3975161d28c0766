-- Step 1 of the schema. Later changes are numbered files in migrations/.
-- Times are integer milliseconds since the Unix epoch, UTC.

CREATE TABLE sessions (
    session_id       TEXT PRIMARY KEY,
    agent_name       TEXT NOT NULL DEFAULT 'unknown',
    status           TEXT NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'completed', 'error')),
    started_at       INTEGER NOT NULL,  -- earliest time known for the session
    ended_at         INTEGER,           -- time of the latest session_end
    last_event_at    INTEGER NOT NULL,  -- latest time known for the session
    metadata         TEXT NOT NULL DEFAULT '{}',
    tokens_in        INTEGER NOT NULL DEFAULT 0,  -- sums over counted events
    tokens_out       INTEGER NOT NULL DEFAULT 0,
    final_tokens_in  INTEGER,           -- stated by session_end; wins over the sums
    final_tokens_out INTEGER,
    event_count      INTEGER NOT NULL DEFAULT 0,  -- counted events only
    named_at         INTEGER,           -- time of the session_start that named it
    source           TEXT NOT NULL      -- wire format of the first event stored
);

CREATE INDEX sessions_by_start ON sessions (started_at DESC, session_id);
CREATE INDEX sessions_by_status ON sessions (status, started_at DESC, session_id);

CREATE TABLE events (
    id             INTEGER PRIMARY KEY,  -- arrival order
    event_id       TEXT NOT NULL UNIQUE,
    session_id     TEXT NOT NULL
                   REFERENCES sessions (session_id) DEFERRABLE INITIALLY DEFERRED,
    event_type     TEXT NOT NULL,
    ts             INTEGER NOT NULL,
    parent_id      TEXT,
    model          TEXT,
    tokens_in      INTEGER,
    tokens_out     INTEGER,
    duration_ms    REAL,
    input_data     TEXT,  -- JSON
    output_data    TEXT,  -- JSON
    tool_call      TEXT,  -- JSON
    tool_name      TEXT,  -- tool_call's name or tool_name
    decision_trace TEXT,  -- JSON
    metadata       TEXT,  -- JSON
    is_error       INTEGER NOT NULL DEFAULT 0,
    source         TEXT NOT NULL
);

CREATE INDEX events_by_session ON events (session_id, ts);

-- What every count, sum and average covers: all but the lifecycle events.
CREATE VIEW activity AS
    SELECT * FROM events WHERE event_type NOT IN ('session_start', 'session_end');
