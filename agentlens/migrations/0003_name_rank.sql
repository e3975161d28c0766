-- Step 3: how authoritative a session's agent_name is, so that names from
-- different wire formats settle the same whatever the arrival order:
-- 0 = none yet ('unknown'), 1 = a client's default (Agnost client_config),
-- 2 = an agent named explicitly (session_start, an Agnost agent turn,
-- AgentOps create_agent). A higher rank wins; within a rank, the earliest.
ALTER TABLE sessions ADD COLUMN name_rank INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET name_rank = 2 WHERE named_at IS NOT NULL;
