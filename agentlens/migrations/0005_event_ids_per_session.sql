-- Step 5: event ids are unique within a session, not across sessions: a
-- retry always repeats its session, while independent clients (and the API's
-- own examples) reuse simple ids such as "evt001" in different sessions.
-- SQLite cannot change a UNIQUE constraint in place, so the table is rebuilt.
--
-- Also: the metadata of the session's earliest session_start is kept
-- verbatim (null values included) in start_metadata; ``metadata`` holds what
-- other sources merged in (SDK session updates), shown over it. And SDK
-- formats' lifecycle events get ids of their own (<session>:<format>:<type>).

DROP VIEW activity;

CREATE TABLE events_new (
    id             INTEGER PRIMARY KEY,  -- arrival order
    event_id       TEXT NOT NULL,
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
    source         TEXT NOT NULL,
    UNIQUE (session_id, event_id)
);

INSERT INTO events_new SELECT * FROM events;
UPDATE events_new SET event_id = session_id || ':' || source || ':' || event_type
WHERE source != 'agentlens' AND event_type IN ('session_start', 'session_end')
  AND event_id = session_id || ':' || event_type;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_by_session ON events (session_id, ts);

CREATE VIEW activity AS
    SELECT * FROM events WHERE event_type NOT IN ('session_start', 'session_end');

ALTER TABLE sessions ADD COLUMN start_metadata TEXT;
ALTER TABLE sessions ADD COLUMN start_event_at INTEGER;

UPDATE sessions SET
    start_event_at = (SELECT min(ts) FROM events
                      WHERE events.session_id = sessions.session_id
                        AND event_type = 'session_start'),
    start_metadata = (SELECT coalesce(metadata, '{}') FROM events
                      WHERE events.session_id = sessions.session_id
                        AND event_type = 'session_start'
                      ORDER BY ts, id LIMIT 1);
-- Native sessions had their lifecycle metadata merged in arrival order; under
-- the new rule they show their first session_start's, and nothing else.
UPDATE sessions SET metadata = '{}'
WHERE source = 'agentlens' AND start_metadata IS NOT NULL;
