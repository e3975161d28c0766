-- As migrations/0013_no_trace_index.sql: the index of events by trace, which no
-- query reads, goes.
DROP INDEX IF EXISTS events_by_trace;
