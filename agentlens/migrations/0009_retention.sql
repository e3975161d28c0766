-- Step 102: retention (agentlens/retention.py). Sessions in order of last
-- activity, the order a prune takes them in; and leases, so that one process
-- at a time, of all the workers and hosts on this database, applies
-- AGENTLENS_RETENTION_DAYS. (Step 101, auto_vacuum, is in db.py: it cannot
-- run inside a transaction.)
CREATE INDEX sessions_by_last_event ON sessions (last_event_at, session_id);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,  -- the job: 'retention'
    holder     TEXT NOT NULL,     -- the process that holds it: host, pid and a random part
    expires_at INTEGER NOT NULL   -- epoch ms: anyone may take the lease after this
) WITHOUT ROWID;
