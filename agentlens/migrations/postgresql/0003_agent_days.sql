-- As migrations/0012_agent_days.sql: event rollups by agent and UTC day of the
-- session's start, filled from session_rollup after this step (agentlens/recount.py).
CREATE TABLE agent_day_models (
    agent_name TEXT COLLATE "C" NOT NULL, start_day BIGINT NOT NULL,
    event_type TEXT COLLATE "C" NOT NULL, model TEXT COLLATE "C" NOT NULL,
    events BIGINT NOT NULL, tokens_in BIGINT NOT NULL, tokens_out BIGINT NOT NULL,
    duration_us BIGINT NOT NULL, timed_events BIGINT NOT NULL, cost_nanos BIGINT NOT NULL,
    unpriced_events BIGINT NOT NULL, unpriced_tokens BIGINT NOT NULL,
    PRIMARY KEY (agent_name, start_day, event_type, model)
);
CREATE TABLE agent_day_clock (
    agent_name TEXT COLLATE "C" NOT NULL, start_day BIGINT NOT NULL, hour BIGINT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (agent_name, start_day, hour)
);
