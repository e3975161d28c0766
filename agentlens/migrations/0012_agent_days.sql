-- Step 12: event rollups by agent and UTC day of the session's start, so that one
-- agent's analytics over a range of days read a few rows a day instead of every
-- session of the agent in the range. Filled from session_rollup after this step
-- (agentlens/recount.py fill_rollups), with the write path's own rules.
CREATE TABLE agent_day_models (
    agent_name TEXT NOT NULL, start_day INTEGER NOT NULL, event_type TEXT NOT NULL,
    model TEXT NOT NULL,
    events INTEGER NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    duration_us INTEGER NOT NULL, timed_events INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
    unpriced_events INTEGER NOT NULL, unpriced_tokens INTEGER NOT NULL,
    PRIMARY KEY (agent_name, start_day, event_type, model)
) WITHOUT ROWID;

CREATE TABLE agent_day_clock (
    agent_name TEXT NOT NULL, start_day INTEGER NOT NULL, hour INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (agent_name, start_day, hour)
) WITHOUT ROWID;
