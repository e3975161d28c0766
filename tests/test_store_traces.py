"""Spans of one trace, filed under one session whatever the order they arrive in."""
import itertools

from hypothesis import HealthCheck, given, settings, strategies as st

from agentlens import db, recount
from agentlens.ingest.events import make_event, session_update, trace_claim
from agentlens.ingest.store import delete_session, store_batch
from agentlens.read import analytics, sessions

CAP = 1 << 20
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_772_000_000_000


def span(span_id, parent=None, tokens=0, trace=TRACE, at=0, event_type="llm_call"):
    return make_event(session_id=None, trace_id=trace, event_id=span_id, parent_id=parent,
                      event_type=event_type, source="otlp", ts=T0 + at, tokens_in=tokens,
                      model="gpt-4o", max_field_bytes=CAP)


def claim(session_id, rank, trace=TRACE):
    return trace_claim(trace, session_id, rank, max_field_bytes=CAP)


def named(trace=TRACE, name="planner", at=0):
    return session_update(None, T0 + at, "otlp", trace_id=trace, agent_name=name,
                          max_field_bytes=CAP)


def state(conn):
    """Every session with its events, and the trace table."""
    found = {s["session_id"]: {**s, "events": [(e["event_id"], e["parent_id"])
                                               for e in sessions.iter_events(conn, s["session_id"])]}
             for s in sessions.list_sessions(conn, limit=200)[0]}
    traces = conn.execute("SELECT trace_id, session_id, claim_rank FROM traces").fetchall()
    return found, sorted(tuple(row) for row in traces)


def test_a_trace_without_a_claim_is_its_own_session(conn):
    assert store_batch(conn, [span("01"), span("02", "01", tokens=5)]).stored == 2
    found, traces = state(conn)
    assert list(found) == [TRACE]
    assert found[TRACE]["total_tokens_in"] == 5
    assert traces == [(TRACE, TRACE, 0)]


def test_children_first_and_the_naming_root_last_end_in_the_named_session(conn):
    store_batch(conn, [span("02", "01", tokens=5, at=100), span("03", "02", tokens=7, at=200)],
                [named(name="worker", at=100)])
    store_batch(conn, [span("01", tokens=1)], trace_claims=[claim("conv-1", 2)])
    found, traces = state(conn)
    assert list(found) == ["conv-1"]
    session = found["conv-1"]
    assert (session["agent_name"], session["total_tokens_in"]) == ("worker", 13)
    assert session["started_at"] == "2026-02-25T06:13:20.000Z"
    assert session["events"] == [("01", None), ("02", "01"), ("03", "02")]
    assert traces == [(TRACE, "conv-1", 2)]
    assert recount.check(conn) == []
    figures = analytics.analytics(conn, now=T0)
    assert figures["overview"]["total_sessions"] == 1
    assert figures["top_agents"] == [{"agent_name": "worker", "session_count": 1,
                                      "total_tokens": 13, "avg_tokens": 13}]


def test_the_roots_claim_beats_a_childs_and_the_childs_session_goes(conn):
    store_batch(conn, [span("02", "01", tokens=5, at=10)], trace_claims=[claim("child-says", 1)])
    store_batch(conn, [span("01")], trace_claims=[claim("root-says", 2)])
    found, traces = state(conn)
    assert list(found) == ["root-says"]
    assert found["root-says"]["events"] == [("01", None), ("02", "01")]
    assert traces == [(TRACE, "root-says", 2)]
    assert recount.check(conn) == []


def test_a_session_with_events_of_its_own_keeps_them_when_a_trace_leaves(conn):
    store_batch(conn, [make_event(session_id="chat", event_type="llm_call", event_id="own",
                                  source="agentlens", ts=T0 + 50, tokens_in=100,
                                  max_field_bytes=CAP)])
    store_batch(conn, [span("02", "01", tokens=5)], trace_claims=[claim("chat", 1)])
    store_batch(conn, [span("01", at=5)], trace_claims=[claim("elsewhere", 2)])
    found, _ = state(conn)
    assert found["chat"]["events"] == [("own", None)]
    assert (found["chat"]["total_tokens_in"], found["chat"]["started_at"]) == (
        100, "2026-02-25T06:13:20.050Z")
    assert found["elsewhere"]["events"] == [("02", "01"), ("01", None)]
    assert recount.check(conn) == []


def test_a_session_shared_by_two_traces_keeps_both(conn):
    other = "00000000000000000000000000000002"
    store_batch(conn, [span("01", tokens=1)], trace_claims=[claim("conv", 2)])
    store_batch(conn, [span("01", trace=other, tokens=2)], trace_claims=[claim("conv", 2, other)])
    found, _ = state(conn)
    assert found["conv"]["events"] == [("01", None), ("01", None)]
    assert found["conv"]["total_tokens_in"] == 3


def test_deleting_the_session_forgets_its_traces(conn):
    store_batch(conn, [span("01")], trace_claims=[claim("conv", 2)])
    assert delete_session(conn, "conv")
    assert state(conn) == ({}, [])
    assert recount.check(conn) == []


BATCHES = [
    ([span("02", "01", tokens=5, at=10)], [], []),
    ([span("03", "02", tokens=7, at=20)], [named(name="worker", at=20)], [claim("child-says", 1)]),
    ([span("01", tokens=1)], [], [claim("conv-9", 2)]),
    ([span("04", "01", tokens=11, at=30)], [], [claim("another-child", 1)]),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(BATCHES))), resend=st.lists(st.integers(0, 3), max_size=3))
def test_any_order_and_retries_of_a_traces_batches_give_the_same_result(make_app, order, resend):
    def run(sequence):
        with make_app().app_context():
            conn = db.get_db()
            for index in sequence:
                events, updates, claims = BATCHES[index]
                store_batch(conn, events, updates, claims)
            assert recount.check(conn) == []
            return state(conn)

    expected = run(range(len(BATCHES)))
    assert run(itertools.chain(order, resend)) == expected
    found, traces = expected
    assert list(found) == ["conv-9"]
    assert (found["conv-9"]["agent_name"], found["conv-9"]["total_tokens_in"]) == ("worker", 24)
