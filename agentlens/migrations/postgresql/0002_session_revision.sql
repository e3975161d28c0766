-- As migrations/0011_session_revision.sql: a tag drawn anew whenever a session or
-- one of its events changes; sessions already stored get a random one.
ALTER TABLE sessions ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET revision = floor(random() * 4611686018427387904)::bigint;
