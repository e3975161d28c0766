"""The rules, the rollup ranges and the recount behind `agentlens check`."""
import sqlite3
from contextlib import closing

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agentlens import db, rollups, rules
from agentlens.read import buckets
from agentlens.read.analytics import analytics
from helpers import read_json

MS = st.integers(-10 * rules.DAY_MS, 400 * rules.DAY_MS)
UNIT = {buckets.DAY: rules.DAY_MS, buckets.HOUR: rules.HOUR_MS, buckets.EXACT: 1}


def interval(piece):
    """A piece as [start, end) in ms; None for an open side."""
    unit = UNIT[piece.level]
    return (None if piece.lo is None else piece.lo * unit,
            None if piece.hi is None else piece.hi * unit)


@settings(max_examples=500)
@given(lo=st.none() | MS, hi=st.none() | MS)
def test_split_covers_the_range_exactly_once(lo, hi):
    if lo is not None and hi is not None and hi < lo:
        lo, hi = hi, lo
    pieces = buckets.split(lo, hi)
    if lo is None and hi is None:
        assert pieces == [buckets.Piece(buckets.ALL)]
        return
    spans = sorted((interval(p) for p in pieces),
                   key=lambda span: float("-inf") if span[0] is None else span[0])
    spans = [span for span in spans if span[0] is None or span[1] is None or span[0] < span[1]]
    if lo == hi:
        assert spans == []
        return
    assert spans[0][0] == lo and spans[-1][1] == hi
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end == start  # contiguous, no overlap
    # Sessions are read one by one only in what is left of the two edge hours.
    assert sum(p.hi - p.lo for p in pieces if p.level == buckets.EXACT) < 2 * rules.HOUR_MS
    assert sum(p.level == buckets.EXACT for p in pieces) <= 2
    # Each exact piece lies in one hour: its sums are filed under that hour's day.
    for piece in pieces:
        if piece.level == buckets.EXACT:
            assert rules.hour_of(piece.lo) == rules.hour_of(piece.hi - 1)
    assert sum(p.level == buckets.HOUR for p in pieces) <= 2


@pytest.fixture
def store_conn(new_database):
    """A connection to a new database of the test's store, for SQL without an app."""
    with closing(db.connect(new_database())) as conn:
        yield conn


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(duration=st.floats(0, 1e9, allow_nan=False) | st.integers(0, 10**9)
       | st.sampled_from([0.0005, 0.0015, 2.5e-4, 1.0005, 841.9995, 0.1 + 0.2]))
def test_the_duration_rule_is_the_same_in_python_and_sql(store_conn, duration):
    (in_sql,) = store_conn.execute(
        f"SELECT {store_conn.duration_us_sql} "
        "FROM (SELECT CAST(? AS DOUBLE PRECISION) AS duration_ms) AS given", (duration,)).fetchone()
    assert in_sql == rules.duration_us(duration)


SESSION_COLUMNS = ("started_at", "ended_at", "event_count", "total_tokens_in",
                   "total_tokens_out", "cost_nanos")


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sessions=st.lists(st.tuples(
    st.integers(-10**12, 10**13), st.none() | st.integers(0, 10**9), st.integers(0, 10**6),
    st.integers(0, 10**12), st.integers(0, 10**12), st.integers(0, 10**15)), min_size=1, max_size=8))
def test_session_sums_are_the_same_in_python_and_sql(store_conn, sessions):
    rows = [dict(zip(SESSION_COLUMNS,
                     (start, None if length is None else start + length, *rest)))
            for start, length, *rest in sessions]
    given_rows = " UNION ALL ".join(
        ["SELECT " + ", ".join(f"CAST(? AS BIGINT) AS {c}" for c in SESSION_COLUMNS)] * len(rows))
    (in_sql,) = store_conn.execute(
        f"SELECT {', '.join(rollups.SESSION_SUMS_SQL)} FROM ({given_rows}) AS given",
        [row[c] for row in rows for c in SESSION_COLUMNS]).fetchall()
    contributions = [rollups.session_contribution(row) for row in rows]
    durations = [duration for _, duration in contributions if duration is not None]
    in_python = [sum(column) for column in zip(*(measures for measures, _ in contributions))]
    in_python += [min(durations, default=None), max(durations, default=None)]
    assert list(in_sql) == in_python


def test_what_counts_is_the_same_in_python_and_sql():
    types = ["session_start", "session_end", "llm_call", "Session_Start", "error", "generic"]
    with closing(sqlite3.connect(":memory:")) as conn:
        counted = [t for (t,) in conn.execute(
            "SELECT event_type FROM (SELECT ? AS event_type UNION ALL " +
            " UNION ALL ".join(["SELECT ?"] * (len(types) - 1)) + f") WHERE {rules.COUNTED}",
            types)]
    assert counted == [t for t in types if rules.is_counted(t)]


def test_check_finds_nothing_on_a_consistent_store_and_a_changed_total(app, runner):
    client = app.test_client()
    client.post("/events", json={"events": [
        {"event_type": "session_start", "session_id": "s", "agent_name": "a"},
        {"session_id": "s", "event_id": "e", "model": "m", "tokens_in": 7, "duration_ms": 1.5}]})
    result = runner.invoke(args=["check"])
    assert result.exit_code == 0, result.output
    assert "All totals of 1 sessions match" in result.output
    with closing(db.connect(app.config["DATABASE"])) as conn, db.transaction(conn):
        conn.execute("UPDATE day_models SET tokens_in = tokens_in + 1")
        conn.execute("UPDATE sessions SET event_count = 5")
    result = runner.invoke(args=["check"])
    assert result.exit_code == 1
    assert "sessions ('s', 'event_count'): stored 5, recounted 1" in result.output
    assert "day_models" in result.output and "stored (1, 8," in result.output
    assert "2 totals differ from a recount" in result.output


@pytest.mark.sqlite_only
def test_analytics_reads_rollups_by_their_keys_and_never_scans_sessions_or_events(app, client):
    client.post("/events", json={"events": [
        {"event_type": "session_start", "session_id": "s", "agent_name": "a",
         "timestamp": "2026-03-01T10:00:00Z"},
        {"session_id": "s", "event_id": "e", "model": "m", "tokens_in": 7,
         "timestamp": "2026-03-01T10:00:01Z"}]})
    recorded = []
    with closing(db.connect(app.config["DATABASE"])) as conn:
        conn.set_trace_callback(recorded.append)
        day = rules.DAY_MS
        analytics(conn, now=1772400000000)
        analytics(conn, agent_name="a", now=1772400000000)
        analytics(conn, started_from=1772400000000 - 7 * day + 12345, now=1772400000000)
        analytics(conn, agent_name="a", started_from=1772000000000, started_to=1772400000123,
                  now=1772400000000)
        conn.set_trace_callback(None)
        selects = [sql for sql in recorded if sql.lstrip().upper().startswith("SELECT")]
        assert selects
        for sql in selects:
            plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
            assert "SCAN events" not in plan and "SCAN sessions" not in plan, (sql, plan)
            if any(f"FROM {prefix}_" in sql for prefix in ("day", "hour", "agent_day")):
                assert "SEARCH" in plan, (sql, plan)


def test_the_session_list_total_comes_from_rollups(client):
    client.post("/events", json={"events": [
        {"event_type": "session_end", "session_id": f"s{i}", "status": "error" if i % 3 else "completed",
         "timestamp": f"2026-03-0{1 + i % 3}T10:00:00Z"} for i in range(9)]})
    assert read_json(client, "/sessions?status=error&limit=1")["total"] == 6
    assert read_json(client, "/sessions?status=completed&from=2026-03-02T00:00:00Z")["total"] == 0
    assert read_json(client, "/sessions?status=error&from=2026-03-02T00:00:00Z")["total"] == 6
