-- Step 7: the session each OpenTelemetry trace is filed under. Every span of a
-- trace belongs to one session: the one a span names (rank 2 when the trace's
-- root span names it, 1 for another span), else the trace id itself (rank 0).
-- A better claim moves what was filed under the trace before (ingest/store.py).
CREATE TABLE traces (
    trace_id   TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    claim_rank INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX traces_by_session ON traces (session_id);
