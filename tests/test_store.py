"""store_batch called directly: exactness under retries and any arrival order."""
import sqlite3
import threading
from contextlib import closing

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agentlens import db, recount
from agentlens.ingest import store
from agentlens.ingest.formats import agentlens
from agentlens.ingest.store import amend_events, store_batch
from agentlens.pricing import overrides
from agentlens.pricing.book import current_book, price_events
from agentlens.pricing.reprice import reprice
from agentlens.read import sessions


def parse(events):
    parsed, rejected = agentlens.parse_batch(
        {"events": events}, max_batch=1000, max_field_bytes=1 << 20
    )
    assert rejected == []
    return parsed


def session_events(sid, agent, n, *, end=True, final=None):
    """A session of n llm_calls with tokens (10*i, i), one second apart."""
    events = [{"event_type": "session_start", "session_id": sid, "agent_name": agent,
               "metadata": {"agent": agent}, "timestamp": "2026-03-01T10:00:00Z"}]
    for i in range(1, n + 1):
        events.append({"event_type": "llm_call", "session_id": sid, "event_id": f"{sid}-{i}",
                       "model": "gpt-4", "tokens_in": 10 * i, "tokens_out": i,
                       "timestamp": f"2026-03-01T10:00:{i:02d}Z"})
    if end:
        end_event = {"event_type": "session_end", "session_id": sid,
                     "timestamp": f"2026-03-01T10:01:{n:02d}Z"}
        if final:
            end_event.update(total_tokens_in=final[0], total_tokens_out=final[1])
        events.append(end_event)
    return events


def snapshot(conn, sid):
    return {**sessions.get_session(conn, sid), "events": list(sessions.iter_events(conn, sid))}


def test_session_totals_are_sums_of_events(conn):
    store_batch(conn, parse(session_events("s1", "alpha", 5)))
    session = sessions.get_session(conn, "s1")
    assert session == {
        "session_id": "s1", "agent_name": "alpha",
        "started_at": "2026-03-01T10:00:00.000Z", "ended_at": "2026-03-01T10:01:05.000Z",
        "metadata": {"agent": "alpha"},
        "total_tokens_in": 150, "total_tokens_out": 15,
        # stored as given: nothing priced these events (api.store prices before storing)
        "total_cost_usd": 0.0, "cost_complete": False, "status": "completed",
    }


def test_final_token_counts_of_session_end_win(conn):
    store_batch(conn, parse(session_events("s1", "alpha", 3, final=(1000, 200))))
    session = sessions.get_session(conn, "s1")
    assert (session["total_tokens_in"], session["total_tokens_out"]) == (1000, 200)


def test_retried_batch_is_stored_once(conn):
    batch = parse(session_events("s1", "alpha", 4))
    first = store_batch(conn, batch)
    again = store_batch(conn, parse(session_events("s1", "alpha", 4)))
    assert (first.stored, first.duplicates) == (6, 0)
    assert (again.stored, again.duplicates) == (0, 6)
    assert sessions.get_session(conn, "s1")["total_tokens_in"] == 100
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 6


def test_duplicate_inside_one_batch_counts_once(conn):
    events = session_events("s1", "alpha", 2)
    result = store_batch(conn, parse(events + events[1:2]))
    assert (result.stored, result.duplicates) == (4, 1)
    assert sessions.get_session(conn, "s1")["total_tokens_in"] == 30


def test_events_before_session_start_take_its_name_later(conn):
    events = session_events("s1", "alpha", 2)
    store_batch(conn, parse(events[1:]))
    assert sessions.get_session(conn, "s1")["agent_name"] == "unknown"
    store_batch(conn, parse(events[:1]))
    assert sessions.get_session(conn, "s1")["agent_name"] == "alpha"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.randoms(use_true_random=False), splits=st.lists(st.integers(0, 12), max_size=4),
       resend=st.lists(st.integers(0, 11), max_size=3))
def test_any_order_and_any_retries_give_the_same_session(make_app, order, splits, resend):
    events = session_events("s1", "alpha", 5, final=None) + session_events("s2", "beta", 4)
    reference_app, shuffled_app = make_app(), make_app()
    with reference_app.app_context():
        conn = db.get_db()
        store_batch(conn, parse(events))
        expected = [snapshot(conn, "s1"), snapshot(conn, "s2")]
    shuffled = events[:]
    order.shuffle(shuffled)
    shuffled += [events[i] for i in resend]
    cuts = sorted(set(splits)) + [len(shuffled)]
    with shuffled_app.app_context():
        conn = db.get_db()
        start = 0
        for cut in cuts:
            if cut > start:
                store_batch(conn, parse(shuffled[start:cut]))
                start = cut
        assert [snapshot(conn, "s1"), snapshot(conn, "s2")] == expected


def test_a_failed_batch_leaves_nothing_behind(conn):
    events = parse(session_events("s1", "alpha", 3))
    events[2]["event_type"] = None  # NOT NULL constraint: the third insert fails
    try:
        store_batch(conn, events)
    except (sqlite3.IntegrityError, psycopg.IntegrityError):
        pass
    else:
        raise AssertionError("expected the insert to fail")
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


@pytest.mark.sqlite_only
def test_session_queries_use_their_indexes(conn):
    def plan(sql, params):
        return " | ".join(row["detail"] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))

    events_plan = plan(
        "SELECT * FROM events WHERE session_id = ? ORDER BY ts, id", ("s1",))
    assert "USING INDEX events_by_session (session_id=?)" in events_plan
    assert "TEMP B-TREE" not in events_plan

    list_plan = plan("SELECT * FROM sessions ORDER BY started_at DESC, session_id LIMIT 50", ())
    assert "SCAN sessions USING INDEX sessions_by_start" in list_plan
    assert "TEMP B-TREE" not in list_plan

    status_plan = plan(
        "SELECT * FROM sessions WHERE status = ? ORDER BY started_at DESC, session_id LIMIT 50",
        ("active",))
    assert "USING INDEX sessions_by_status (status=?)" in status_plan
    assert "TEMP B-TREE" not in status_plan

    # A trace's events, moved to the session a later span names: one session's keys.
    move_plan = plan(store.MOVE_TRACE, ("s2", "s1", "t1"))
    assert move_plan == "SEARCH events USING COVERING INDEX sqlite_autoindex_events_1 (session_id=?)"
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events_by_trace'").fetchone()


def test_migrations_record_the_version_and_run_once(tmp_path):
    path = str(tmp_path / "m.sqlite3")
    latest = max(step for step, _ in db.migration_steps())
    with closing(db.connect(path)) as conn:
        assert db.migrate(conn) == latest
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.migrate(conn) == latest  # nothing left to apply, no error


def test_concurrent_first_connections_migrate_once(tmp_path):
    path = str(tmp_path / "race.sqlite3")
    errors = []

    def first_use():
        try:
            with closing(db.connect(path)) as conn:
                db.migrate(conn)
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# The brute-force recount, written independently of the write path's code: SQL over
# the raw events (durations rounded half up to integer microseconds, hours of the day UTC;
# an event is unpriced when it has tokens but no cost).
COUNTED_EVENTS = "SELECT * FROM events WHERE event_type NOT IN ('session_start', 'session_end')"
UNPRICED = "(cost_nanos IS NULL AND coalesce(tokens_in, 0) + coalesce(tokens_out, 0) > 0)"
UNPRICED_EVENTS = f"sum(CASE WHEN {UNPRICED} THEN 1 ELSE 0 END)"
ROLLUP_FROM_EVENTS = f"""
SELECT {{keys}}, count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),
       coalesce(sum(CAST(floor(duration_ms * 1000 + 0.5) AS BIGINT)), 0), count(duration_ms),
       coalesce(sum(cost_nanos), 0), {UNPRICED_EVENTS},
       sum(CASE WHEN {UNPRICED} THEN coalesce(tokens_in, 0) + coalesce(tokens_out, 0) ELSE 0 END)
FROM (SELECT *, coalesce(model, '') AS m,
             (ts % 86400000 + 86400000) % 86400000 / 3600000 AS h FROM ({COUNTED_EVENTS}) AS counted)
      AS bucketed
GROUP BY {{keys}} ORDER BY {{keys}}
"""


def recomputed(conn):
    """Every stored total, recomputed from the raw events by brute force."""
    per_session = conn.execute(ROLLUP_FROM_EVENTS.format(keys="session_id, event_type, m, h")).fetchall()
    overall = conn.execute(ROLLUP_FROM_EVENTS.format(keys="event_type, m, h")).fetchall()
    sessions_ = conn.execute(
        "SELECT session_id, count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), "
        f"coalesce(sum(cost_nanos), 0), {UNPRICED_EVENTS} "
        f"FROM ({COUNTED_EVENTS}) AS counted GROUP BY session_id ORDER BY session_id").fetchall()
    return [tuple(r) for r in per_session], [tuple(r) for r in overall], [tuple(r) for r in sessions_]


def stored(conn):
    measures = ("events, tokens_in, tokens_out, duration_us, timed_events, cost_nanos, "
                "unpriced_events, unpriced_tokens")
    per_session = conn.execute(
        f"SELECT session_id, event_type, model, hour, {measures} FROM session_rollup "
        "ORDER BY session_id, event_type, model, hour").fetchall()
    overall = conn.execute(
        f"SELECT event_type, model, hour, {measures} FROM event_rollup "
        "ORDER BY event_type, model, hour").fetchall()
    sessions_ = conn.execute(
        "SELECT session_id, event_count, tokens_in, tokens_out, cost_nanos, unpriced_events "
        "FROM sessions WHERE event_count > 0 ORDER BY session_id").fetchall()
    return [tuple(r) for r in per_session], [tuple(r) for r in overall], [tuple(r) for r in sessions_]


def with_buckets(event):
    """Cache and reasoning tokens that fit in the event's tokens, and perhaps a client's cost."""
    return st.fixed_dictionaries({
        "cache_read_tokens": st.none() | st.integers(0, event["tokens_in"] or 0),
        "reasoning_tokens": st.none() | st.integers(0, event["tokens_out"] or 0),
        "cost_usd": st.none() | st.sampled_from([0, 0.000001, 0.0125]),
    }).map(lambda extra: {**event, **extra})


event_strategy = st.fixed_dictionaries({
    "session_id": st.sampled_from(["a", "b", "c"]),
    "event_id": st.sampled_from([f"e{i}" for i in range(12)]),
    "event_type": st.sampled_from(["llm_call", "tool_call", "error", "session_start", "session_end"]),
    "model": st.sampled_from(["gpt-4", "gpt-4o", "claude", None]),
    "tokens_in": st.none() | st.integers(0, 1000),
    "tokens_out": st.none() | st.integers(0, 1000),
    "duration_ms": st.none() | st.floats(0, 5000, allow_nan=False).map(lambda x: round(x, 3)),
    "timestamp": st.integers(0, 72).map(lambda h: f"2026-03-0{1 + h // 24}T{h % 24:02d}:30:00+05:30"),
    "agent_name": st.just("agent"),
}).flatmap(with_buckets)
amend_strategy = st.fixed_dictionaries({
    "event_id": st.sampled_from([f"e{i}" for i in range(12)]),
    "model": st.none() | st.sampled_from(["gpt-4", "o3", "claude"]),
    "tokens_in": st.none() | st.integers(0, 1000),
    "tokens_out": st.none() | st.integers(0, 1000),
    "end_ts": st.none() | st.integers(1772330000000, 1772600000000),
    "input_data": st.none(), "output_data": st.none(), "returns": st.none(),
    "cost_nanos": st.none() | st.just(7_000),
})
# A price changed (an override for a model, from a date or for every date), then a reprice.
override_strategy = st.fixed_dictionaries({
    "model": st.sampled_from(["gpt-4", "claude"]),
    "body": st.fixed_dictionaries({"input": st.sampled_from([0, 1.5, 3]),
                                   "output": st.sampled_from([2, 15]),
                                   "cached_input": st.none() | st.just(0.3),
                                   "valid_from": st.none() | st.just("2026-03-02T00:00:00Z")}),
    "model_filter": st.booleans(),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(
    st.lists(event_strategy, min_size=1, max_size=6).map(lambda b: ("store", b)),
    st.lists(amend_strategy, min_size=1, max_size=3).map(lambda a: ("amend", a)),
    override_strategy.map(lambda o: ("reprice", o))), max_size=8))
def test_totals_always_equal_a_recount_of_the_events(make_app, steps):
    with make_app().app_context():
        conn = db.get_db()
        for kind, payload in steps:
            if kind == "store":   # priced as api.store does, then stored
                events = parse([{k: v for k, v in e.items() if v is not None} for e in payload])
                store_batch(conn, price_events(conn, events))
            elif kind == "amend":
                for session_id in ("a", "b", "c"):
                    amend_events(conn, session_id, payload, current_book(conn))
            else:
                overrides.put(conn, overrides.parse(payload["model"], payload["body"]))
                reprice(conn, current_book(conn),
                        model=payload["model"] if payload["model_filter"] else None)
        assert stored(conn) == recomputed(conn)
        assert recount.check(conn) == []


def test_the_same_event_id_in_two_sessions_is_two_events(conn):
    result = store_batch(conn, parse([
        {"session_id": "A", "event_id": "evt001", "tokens_in": 5},
        {"session_id": "B", "event_id": "evt001", "tokens_in": 7},
    ]))
    assert (result.stored, result.duplicates) == (2, 0)
    assert [sessions.get_session(conn, sid)["total_tokens_in"] for sid in "AB"] == [5, 7]


def test_within_a_batch_the_first_occurrence_of_an_id_is_kept_with_its_effects(conn):
    result = store_batch(conn, parse([
        {"event_type": "session_start", "session_id": "C", "event_id": "z", "agent_name": "first",
         "timestamp": "2026-03-01T10:00:00Z"},
        {"event_type": "session_end", "session_id": "C", "event_id": "z", "status": "error",
         "timestamp": "2026-03-01T10:05:00Z"},
    ]))
    assert (result.stored, result.duplicates) == (1, 1)
    session = sessions.get_session(conn, "C")
    assert (session["agent_name"], session["status"], session["ended_at"]) == ("first", "active", None)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(3)))
def test_session_metadata_is_the_starts_as_sent_whatever_the_order(make_app, order):
    events = [
        {"event_type": "session_start", "session_id": "m", "agent_name": "a",
         "metadata": {"version": "1.0", "keep": None, "nested": {"a": 1}},
         "timestamp": "2026-03-01T10:00:00Z"},
        {"event_type": "llm_call", "session_id": "m", "event_id": "x", "timestamp": "2026-03-01T10:00:01Z"},
        {"event_type": "session_end", "session_id": "m", "metadata": {"version": "2.0"},
         "timestamp": "2026-03-01T10:01:00Z"},
    ]
    with make_app().app_context():
        conn = db.get_db()
        for index in order:
            store_batch(conn, parse([events[index]]))
        assert sessions.get_session(conn, "m")["metadata"] == {
            "version": "1.0", "keep": None, "nested": {"a": 1}}
