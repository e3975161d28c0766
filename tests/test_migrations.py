"""Upgrading a database built by an earlier schema keeps every event and settles it as new."""
from contextlib import closing

from agentlens import db
from agentlens.read import sessions


def database_at(path, version):
    """A database with the schema steps up to ``version`` applied."""
    conn = db.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    for step, sql in db.migration_steps():
        if step <= version:
            for statement in db.split_statements(sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step}")
    return conn


V4_ROWS = """
INSERT INTO sessions (session_id, agent_name, status, started_at, ended_at, last_event_at,
                      metadata, tokens_in, event_count, named_at, name_rank, source) VALUES
  ('native', 'agent', 'completed', 1000, 9000, 9000, '{"version":"2.0","end":true}', 5, 1, 1000, 2, 'agentlens'),
  ('conv', 'claude-desktop', 'active', 1000, NULL, 2000, '{"client_config":"claude-desktop"}', 0, 1, 1000, 1, 'agnost');
INSERT INTO events (event_id, session_id, event_type, ts, tokens_in, metadata, is_error, source) VALUES
  ('native:session_start', 'native', 'session_start', 1000, NULL, '{"version":"1.0","keep":null}', 0, 'agentlens'),
  ('evt001', 'native', 'llm_call', 2000, 5, NULL, 0, 'agentlens'),
  ('native:session_end', 'native', 'session_end', 9000, NULL, '{"version":"2.0","end":true}', 0, 'agentlens'),
  ('conv:session_start', 'conv', 'session_start', 1000, NULL, '{"client_config":"claude-desktop"}', 0, 'agnost'),
  ('t1', 'conv', 'tool_call', 2000, NULL, NULL, 0, 'agnost');
"""


def test_migration_5_keeps_every_event_and_applies_the_new_rules(tmp_path):
    with closing(database_at(str(tmp_path / "v4.sqlite3"), 4)) as conn:
        conn.executescript(V4_ROWS)
        assert db.migrate(conn) == 5

        ids = [tuple(row) for row in
               conn.execute("SELECT session_id, event_id FROM events ORDER BY id")]
        assert ids == [("native", "native:session_start"), ("native", "evt001"),
                       ("native", "native:session_end"), ("conv", "conv:agnost:session_start"),
                       ("conv", "t1")]
        # A native session shows its session_start's metadata, as sent.
        assert sessions.get_session(conn, "native")["metadata"] == {"version": "1.0", "keep": None}
        assert sessions.get_session(conn, "conv")["metadata"] == {"client_config": "claude-desktop"}
        # Event ids are now unique per session only.
        conn.execute("INSERT INTO events (event_id, session_id, event_type, ts, source) "
                     "VALUES ('evt001', 'conv', 'llm_call', 3000, 'agentlens')")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
