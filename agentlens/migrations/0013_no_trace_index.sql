-- Step 13: SQLite's index of events by trace goes. SQLite never used it: a query by
-- trace id cannot take a partial index (trace_id != '') unless its value is written
-- in the SQL, and even then the planner took the events' unique key. Moving a trace
-- goes through that key; every OpenTelemetry span paid an entry in the index.
-- PostgreSQL keeps its own, which its planner does use to move a trace out of a large
-- session.
DROP INDEX IF EXISTS events_by_trace;
