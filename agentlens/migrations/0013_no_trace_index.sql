-- Step 13: the index of events by trace goes. Nothing reads events by trace alone:
-- a trace's events are moved by session and trace, through the events' unique
-- key, and SQLite cannot use a partial index (trace_id != '') for a trace id
-- bound as a parameter anyway. Every OpenTelemetry span paid an entry in it.
DROP INDEX IF EXISTS events_by_trace;
