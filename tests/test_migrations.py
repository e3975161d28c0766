"""Upgrading a database built by an earlier schema keeps every event and settles it as new."""
from contextlib import closing
from datetime import datetime, timezone

from agentlens import db, recount
from agentlens.read import analytics, sessions
from otlp_builder import export, span

LATEST = max(step for step, _ in db.migration_steps())


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
        assert db.migrate(conn) == LATEST

        ids = [tuple(row) for row in conn.execute("SELECT session_id, event_id FROM events ORDER BY id")]
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


V5_ROWS = """
INSERT INTO sessions (session_id, agent_name, status, started_at, ended_at, last_event_at,
                      metadata, tokens_in, tokens_out, final_tokens_in, event_count, named_at,
                      name_rank, source, start_metadata, start_event_at) VALUES
  ('a', 'alpha', 'completed', 3600000, 3660000, 3660000, '{}', 15, 4, 100, 2, 3600000, 2,
   'agentlens', '{"v":1}', 3600000),
  ('b', 'beta', 'active', 90000000, NULL, 90005000, '{}', 7, 0, NULL, 1, 90000000, 2,
   'agentlens', '{}', 90000000);
INSERT INTO events (event_id, session_id, event_type, ts, model, tokens_in, tokens_out,
                    duration_ms, is_error, source) VALUES
  ('a:session_start', 'a', 'session_start', 3600000, NULL, NULL, NULL, NULL, 0, 'agentlens'),
  ('e1', 'a', 'llm_call', 3601000, 'gpt-4o', 10, 3, 1.5, 0, 'agentlens'),
  ('e2', 'a', 'llm_call', 3602000, 'gpt-4o', 5, 1, 0.25, 0, 'agentlens'),
  ('a:session_end', 'a', 'session_end', 3660000, NULL, NULL, NULL, NULL, 0, 'agentlens'),
  ('e1', 'b', 'tool_call', 90005000, NULL, 7, NULL, NULL, 0, 'agentlens');
"""


def test_migration_6_recounts_every_total_from_the_events(tmp_path):
    with closing(database_at(str(tmp_path / "v5.sqlite3"), 5)) as conn:
        conn.executescript(V5_ROWS)
        assert db.migrate(conn) == LATEST
        assert recount.check(conn) == []
        # The final counts of a's session_end win; b sums its one event.
        assert [(s["session_id"], s["total_tokens_in"], s["total_tokens_out"])
                for s in sessions.list_sessions(conn)[0]] == [("b", 7, 0), ("a", 100, 4)]
        figures = analytics.analytics(conn, now=90005000)
        assert figures["overview"]["total_tokens"] == 111
        # events stored before costs existed have none until `agentlens reprice`: unknown, not 0
        assert figures["model_usage"] == [{
            "model": "gpt-4o", "call_count": 2, "total_tokens": 19, "total_tokens_in": 15,
            "total_tokens_out": 4, "avg_duration_ms": 0.88, "cost_usd": None}]
        assert figures["duration"] == {"avg_ms": 60000, "min_ms": 60000, "max_ms": 60000}
        assert analytics.analytics(conn, started_from=86400000, now=90005000)["overview"][
            "total_sessions"] == 1
        # Spans of two traces may share an id within one session.
        for trace in ("t1", "t2"):
            conn.execute("INSERT INTO events (event_id, trace_id, session_id, event_type, ts, source) "
                         "VALUES ('s1', ?, 'b', 'span', 1, 'otlp')", (trace,))
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_the_step_adding_rollups_by_agent_and_day_fills_them_as_the_write_path_did(
        make_app, store, monkeypatch):
    """SQLite's step 12, PostgreSQL's 3: the tables made again on a store that has
    data, then filled from the per-session rollup (in chunks of 5 sessions here),
    hold what the write path wrote."""
    monkeypatch.setattr(recount, "CHUNK_SESSIONS", 5)
    app = make_app()
    day = 86_400_000

    def iso(ms):
        return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")

    events = []
    for number in range(12):
        session, started = f"s{number}", 1_771_000_000_000 + number * 7 * 3_600_000 - 2 * day
        events += [
            {"event_type": "session_start", "session_id": session,
             "agent_name": f"agent-{number % 3}", "timestamp": iso(started)},
            {"event_type": "llm_call", "session_id": session, "event_id": f"{session}-a",
             "model": ("gpt-4o", "claude-3-5-sonnet")[number % 2], "tokens_in": number + 1,
             "tokens_out": 2 * number, "duration_ms": 1.5 * number,
             "timestamp": iso(started + 3_600_000 * (number % 5))},
            {"event_type": "tool_call", "session_id": session, "event_id": f"{session}-b",
             "tool_call": {"name": "search"}, "timestamp": iso(started + 60_000)}]
    response = app.test_client().post("/events", json={"events": events})
    assert response.get_json() == {"status": "ok", "processed": len(events)}
    tables = ("agent_day_models", "agent_day_clock")
    with closing(db.connect(app.config["DATABASE"])) as conn:
        def rows():
            return {table: sorted(map(tuple, conn.execute(f"SELECT * FROM {table}")))
                    for table in tables}
        written = rows()
        # 3 agents, each with sessions started on 2 or 3 UTC days
        assert len({row[:2] for row in written["agent_day_clock"]}) >= 6
        with db.transaction(conn):
            for table in tables:
                conn.execute(f"DROP TABLE {table}")
            if store == "sqlite":
                conn.execute("PRAGMA user_version = 11")
            else:
                conn.execute("DELETE FROM schema_migrations WHERE version >= 3")
        conn.migrate()
        assert rows() == written
        assert recount.check(conn) == []


def test_the_step_ranking_names_more_finely_keeps_explicit_names_explicit(make_app, store):
    """SQLite's step 14, PostgreSQL's 5: a name stored at the old explicit rank (2) is
    explicit still (4), so an OpenTelemetry agent span's own name (now 2) cannot take
    its place; a stand-in (1) stays one."""
    client = make_app().test_client()
    client.post("/events", json={"events": [
        {"event_type": "session_start", "session_id": "s", "agent_name": "explicit",
         "timestamp": "2026-01-01T00:00:00Z"},
        {"event_type": "session_start", "session_id": "t", "agent_name": "other",
         "timestamp": "2026-01-01T00:00:00Z"}]})
    with closing(db.connect(client.application.config["DATABASE"])) as conn:
        with db.transaction(conn):
            conn.execute("UPDATE sessions SET name_rank = 2 WHERE session_id = 's'")
            conn.execute("UPDATE sessions SET name_rank = 1 WHERE session_id = 't'")
            if store == "sqlite":
                conn.execute("PRAGMA user_version = 13")
            else:
                conn.execute("DELETE FROM schema_migrations WHERE version = 5")
        conn.migrate()
        assert dict(conn.execute("SELECT session_id, name_rank FROM sessions").fetchall()) == {
            "s": 4, "t": 1}
    client.post("/v1/traces", data=export([span(
        "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "early.agent", start_ms=-10**9,
        attrs={"agentops.span.kind": "agent", "session.id": "s"})]).SerializeToString(),
        content_type="application/x-protobuf")
    assert client.get("/sessions/s").get_json()["agent_name"] == "explicit"
