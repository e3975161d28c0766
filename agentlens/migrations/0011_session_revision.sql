-- A tag drawn anew whenever a session or one of its events changes (store.Change,
-- session_state.new_revision): a rendering of the session made at one tag is
-- current as long as the session has that tag (read/explain.py caches by it).
-- Sessions already stored get a random one, as a change would give them (62 bits).
ALTER TABLE sessions ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET revision = random() & 4611686018427387903;
