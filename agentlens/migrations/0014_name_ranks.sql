-- Step 14: names are ranked more finely (ingest/events.py): an explicit name
-- (session_start, create_agent, gen_ai.agent.name) goes from 2 to 4, so that an
-- OpenTelemetry agent span's other name attributes (3) and its own name (2) rank
-- between it and a stand-in (1). Names stored at 2 were all taken as explicit.
UPDATE sessions SET name_rank = 4 WHERE name_rank = 2;
