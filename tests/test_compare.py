"""Contract tests for POST /sessions/compare.

Contract: /work/shared/spec/agentlens-rest-api.txt plus DECISIONS.md (DECISIONS wins).
Every expected value is worked out by hand from the events the test sends (the
arithmetic is in the comments); nothing is computed by the code under test.
"""
import random
import re

import pytest
from helpers import assert_error

COMPARED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
METRIC_KEYS = [
    "session_id", "agent_name", "status", "tokens_in", "tokens_out", "total_tokens",
    "cost_usd", "cost_complete", "event_count", "error_count", "total_processing_ms",
    "avg_event_duration_ms",
    "session_duration_ms", "models", "event_types", "tools", "metadata",
]
DELTA_KEYS = [
    "total_tokens", "tokens_in", "tokens_out", "event_count", "error_count",
    "total_processing_ms", "avg_event_duration_ms", "cost_usd",
]


def post_events(client, events):
    response = client.post("/events", json={"events": events})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "rejected" not in body, body
    return body


def compare(client, a, b):
    response = client.post("/sessions/compare", json={"session_a": a, "session_b": b})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"compared_at", "session_a", "session_b", "deltas", "shared"}, body
    assert COMPARED_AT.match(body["compared_at"]), body["compared_at"]
    assert set(body["deltas"]) == set(DELTA_KEYS), body["deltas"]
    for side in ("session_a", "session_b"):
        assert set(body[side]) == set(METRIC_KEYS), body[side]
    return body


def start(session_id, ts, agent="research-agent", **extra):
    return {"event_type": "session_start", "session_id": session_id, "agent_name": agent,
            "timestamp": ts, **extra}


def end(session_id, ts, **extra):
    return {"event_type": "session_end", "session_id": session_id, "timestamp": ts, **extra}


def llm(session_id, event_id, ts, model, tokens_in, tokens_out, duration_ms, **extra):
    return {"event_type": "llm_call", "session_id": session_id, "event_id": event_id,
            "timestamp": ts, "model": model, "tokens_in": tokens_in, "tokens_out": tokens_out,
            "duration_ms": duration_ms, **extra}


def tool(session_id, event_id, ts, tool_call, duration_ms=None, **extra):
    event = {"event_type": "tool_call", "session_id": session_id, "event_id": event_id,
             "timestamp": ts, "tool_call": tool_call, **extra}
    if duration_ms is not None:
        event["duration_ms"] = duration_ms
    return event


# ---------------------------------------------------------------------------
# The reference's example: session A is exactly its "session_a"; B is built so
# that the deltas are the documented ones wherever the arithmetic allows.

def reference_a():
    s = "ref-a"
    return [
        start(s, "2025-03-10T10:30:00Z"),
        llm(s, "a1", "2025-03-10T10:30:05Z", "gpt-4", 200, 60, 700),
        tool(s, "a2", "2025-03-10T10:30:10Z",
             {"name": "web_search", "input": {"q": "x"}, "output": "y"}, 500),
        llm(s, "a3", "2025-03-10T10:30:15Z", "gpt-4", 200, 60, 650.5),
        # the {tool_name, tool_input, tool_output} spelling is read the same way
        tool(s, "a4", "2025-03-10T10:30:20Z",
             {"tool_name": "web_search", "tool_input": {"q": "z"}, "tool_output": "w"}, 300),
        llm(s, "a5", "2025-03-10T10:30:25Z", "gpt-4", 200, 60, 800),
        tool(s, "a6", "2025-03-10T10:30:30Z", {"name": "calculator", "input": "1+1"}, 50),
        llm(s, "a7", "2025-03-10T10:30:35Z", "gpt-4", 200, 60, 600),
        llm(s, "a8", "2025-03-10T10:30:40Z", "gpt-4", 200, 60, 650),
        # final counts 1200/350 win over the event sums 1000/300
        end(s, "2025-03-10T10:31:00Z", status="completed",
            total_tokens_in=1200, total_tokens_out=350),
    ]


def reference_b():
    s = "ref-b"
    return [
        start(s, "2025-03-10T11:00:00Z", metadata={"variant": "b"}),
        llm(s, "b1", "2025-03-10T11:00:05Z", "gpt-4", 300, 80, 1000),
        tool(s, "b2", "2025-03-10T11:00:10Z", {"name": "calculator", "input": "2*3"}, 400.5),
        llm(s, "b3", "2025-03-10T11:00:15Z", "claude-3-haiku", 100, 40, 800),
        {"event_type": "decision", "session_id": s, "event_id": "b4",
         "timestamp": "2025-03-10T11:00:20Z", "duration_ms": 100,
         "decision_trace": {"reasoning": "enough"}},
        tool(s, "b5", "2025-03-10T11:00:25Z", {"name": "web_search", "input": {"q": "q"}}, 249.5),
        llm(s, "b6", "2025-03-10T11:00:30Z", "gpt-4", 250, 70, 700),
        end(s, "2025-03-10T11:00:45Z", total_tokens_in=1050, total_tokens_out=300),
    ]


EXPECTED_A = {
    "session_id": "ref-a",
    "agent_name": "research-agent",
    "status": "completed",
    "tokens_in": 1200,            # session_end's total_tokens_in
    "tokens_out": 350,            # session_end's total_tokens_out
    "total_tokens": 1550,         # 1200 + 350
    # the events' cost (stated totals are counts, not priced): gpt-4 at $30 / $60 per
    # million tokens, 5 x (200 x 30 + 60 x 60) = 5 x 9600 = 48,000 µ$
    "cost_usd": 0.048,
    "cost_complete": True,
    "event_count": 8,             # 5 llm_call + 3 tool_call (lifecycle not counted)
    "error_count": 0,
    "total_processing_ms": 4250.5,    # 700+650.5+800+600+650 (3400.5) + 500+300+50 (850)
    "avg_event_duration_ms": 531.31,  # 4250.5 / 8 = 531.3125
    "session_duration_ms": 60000,     # 10:31:00 - 10:30:00
    "models": {"gpt-4": {"calls": 5, "tokens_in": 1000, "tokens_out": 300,  # 5 x 200/60
                         "cost_usd": 0.048}},
    "event_types": {"llm_call": 5, "tool_call": 3},
    "tools": {
        "web_search": {"calls": 2, "total_duration": 800},   # 500 + 300
        "calculator": {"calls": 1, "total_duration": 50},
    },
    "metadata": {},
}

EXPECTED_B = {
    "session_id": "ref-b",
    "agent_name": "research-agent",
    "status": "completed",        # session_end without a status
    "tokens_in": 1050,
    "tokens_out": 300,
    "total_tokens": 1350,
    # gpt-4: 300 x 30 + 80 x 60 = 13,800 µ$ and 250 x 30 + 70 x 60 = 11,700;
    # claude-3-haiku at $0.25 / $1.25: 100 x 0.25 + 40 x 1.25 = 75 µ$
    "cost_usd": 0.025575,
    "cost_complete": True,
    "event_count": 6,             # 3 llm_call + 2 tool_call + 1 decision
    "error_count": 0,
    "total_processing_ms": 3250,      # 1000+400.5+800+100+249.5+700
    "avg_event_duration_ms": 541.67,  # 3250 / 6 = 541.666...
    "session_duration_ms": 45000,     # 11:00:45 - 11:00:00
    "models": {
        "gpt-4": {"calls": 2, "tokens_in": 550, "tokens_out": 150,   # 300+250, 80+70
                  "cost_usd": 0.0255},
        "claude-3-haiku": {"calls": 1, "tokens_in": 100, "tokens_out": 40, "cost_usd": 0.000075},
    },
    # first appearance in time: llm_call 11:00:05, tool_call 11:00:10, decision 11:00:20
    "event_types": {"llm_call": 3, "tool_call": 2, "decision": 1},
    "tools": {
        "calculator": {"calls": 1, "total_duration": 400.5},   # 11:00:10
        "web_search": {"calls": 1, "total_duration": 249.5},   # 11:00:25
    },
    "metadata": {"variant": "b"},
}

# The reference's deltas. B = 6 events and 3250 ms of processing (forced by
# event_count -2 and total_processing_ms -1000.5), so B's average is
# 3250/6 = 541.67 and the documented avg delta (+10.2, +1.92 %) cannot be hit:
# it would need B's average to be 541.51 = 3250/6.0018. Ours:
# 541.67 - 531.31 = 10.36; 10.36 / 531.31 * 100 = 1.9499 -> 1.95.
EXPECTED_REFERENCE_DELTAS = {
    "total_tokens": {"absolute": -200, "percent": -12.9},      # -200/1550 = -12.903 %
    "tokens_in": {"absolute": -150, "percent": -12.5},         # -150/1200
    "tokens_out": {"absolute": -50, "percent": -14.29},        # -50/350 = -14.2857 %
    "event_count": {"absolute": -2, "percent": -25},           # -2/8
    "error_count": {"absolute": 0, "percent": 0},              # both 0
    "total_processing_ms": {"absolute": -1000.5, "percent": -23.54},  # -1000.5/4250.5 = -23.538 %
    "avg_event_duration_ms": {"absolute": 10.36, "percent": 1.95},
    "cost_usd": {"absolute": -0.022425, "percent": -46.72},   # -0.022425/0.048 = -46.71875 %
}


@pytest.fixture
def reference_client(client):
    post_events(client, reference_a())
    events_b = reference_b()
    random.Random(7).shuffle(events_b)   # arrival order must not matter
    post_events(client, events_b)
    return client


def test_reference_example_session_a(reference_client):
    body = compare(reference_client, "ref-a", "ref-b")
    assert body["session_a"] == EXPECTED_A
    # names in order of first appearance
    assert list(body["session_a"]["tools"]) == ["web_search", "calculator"]
    assert list(body["session_a"]["event_types"]) == ["llm_call", "tool_call"]


def test_reference_example_session_b_first_seen_order(reference_client):
    body = compare(reference_client, "ref-a", "ref-b")
    assert body["session_b"] == EXPECTED_B
    assert list(body["session_b"]["models"]) == ["gpt-4", "claude-3-haiku"]
    assert list(body["session_b"]["event_types"]) == ["llm_call", "tool_call", "decision"]
    assert list(body["session_b"]["tools"]) == ["calculator", "web_search"]


def test_reference_example_deltas(reference_client):
    body = compare(reference_client, "ref-a", "ref-b")
    assert body["deltas"] == EXPECTED_REFERENCE_DELTAS
    assert list(body["deltas"]) == DELTA_KEYS


def test_reference_example_shared_is_what_either_has_in_a_order(reference_client):
    body = compare(reference_client, "ref-a", "ref-b")
    # As the reference's example: "decision" is listed though A has none. A's names
    # in A's order (tools although B called calculator first), then B's others
    # (claude-3-haiku only in B).
    assert body["shared"] == {
        "event_types": ["llm_call", "tool_call", "decision"],
        "tools": ["web_search", "calculator"],
        "models": ["gpt-4", "claude-3-haiku"],
    }


def test_reference_example_reversed(reference_client):
    body = compare(reference_client, "ref-b", "ref-a")
    assert body["session_a"] == EXPECTED_B
    assert body["session_b"] == EXPECTED_A
    assert body["deltas"] == {
        "total_tokens": {"absolute": 200, "percent": 14.81},      # 200/1350 = 14.8148 %
        "tokens_in": {"absolute": 150, "percent": 14.29},         # 150/1050 = 14.2857 %
        "tokens_out": {"absolute": 50, "percent": 16.67},         # 50/300 = 16.667 %
        "event_count": {"absolute": 2, "percent": 33.33},         # 2/6
        "error_count": {"absolute": 0, "percent": 0},
        "total_processing_ms": {"absolute": 1000.5, "percent": 30.78},  # 1000.5/3250 = 30.7846 %
        "avg_event_duration_ms": {"absolute": -10.36, "percent": -1.91},  # -10.36/541.67 = -1.9126 %
        "cost_usd": {"absolute": 0.022425, "percent": 87.68},   # 0.022425/0.025575 = 87.683 %
    }
    assert body["shared"] == {
        "event_types": ["llm_call", "tool_call", "decision"],
        "tools": ["calculator", "web_search"],    # now B's order is the baseline's
        "models": ["gpt-4", "claude-3-haiku"],
    }


def test_retried_and_duplicated_batches_change_nothing(reference_client):
    post_events(reference_client, reference_a())
    post_events(reference_client, list(reversed(reference_b())))
    body = compare(reference_client, "ref-a", "ref-b")
    assert body["session_a"] == EXPECTED_A
    assert body["session_b"] == EXPECTED_B
    assert body["deltas"] == EXPECTED_REFERENCE_DELTAS


def test_compare_session_with_itself(reference_client):
    body = compare(reference_client, "ref-a", "ref-a")
    assert body["session_a"] == body["session_b"] == EXPECTED_A
    for name in DELTA_KEYS:
        expected_percent = 0
        assert body["deltas"][name] == {"absolute": 0, "percent": expected_percent}, name
    assert body["shared"] == {"event_types": ["llm_call", "tool_call"],
                              "tools": ["web_search", "calculator"], "models": ["gpt-4"]}


# ---------------------------------------------------------------------------
# Zero and null percents, half-up rounding, float residue


@pytest.fixture
def small_client(client):
    post_events(client, [
        # z0: no counted events at all, final counts 32 / 0
        start("z0", "2025-05-01T08:00:00Z", agent="zero"),
        end("z0", "2025-05-01T08:00:01Z", total_tokens_in=32, total_tokens_out=0),
        # z1: final 33 / 5; two timed events 1.0 + 1.25; one error event
        start("z1", "2025-05-01T09:00:00Z", agent="one"),
        {"event_type": "agent_error", "session_id": "z1", "event_id": "z1-e1",
         "timestamp": "2025-05-01T09:00:01Z", "duration_ms": 1.0},
        {"event_type": "custom", "session_id": "z1", "event_id": "z1-e2",
         "timestamp": "2025-05-01T09:00:02Z", "duration_ms": 1.25},
        end("z1", "2025-05-01T09:00:03Z", total_tokens_in=33, total_tokens_out=5),
        # z2: final 31 / 0, nothing else
        start("z2", "2025-05-01T10:00:00Z", agent="two"),
        end("z2", "2025-05-01T10:00:00.500Z", total_tokens_in=31, total_tokens_out=0),
        # f3: durations 0.1 + 0.2;  f4: 0.7
        start("f3", "2025-05-01T11:00:00Z", agent="float"),
        {"event_type": "step", "session_id": "f3", "event_id": "f3-1",
         "timestamp": "2025-05-01T11:00:01Z", "duration_ms": 0.1},
        {"event_type": "step", "session_id": "f3", "event_id": "f3-2",
         "timestamp": "2025-05-01T11:00:02Z", "duration_ms": 0.2},
        start("f4", "2025-05-01T12:00:00Z", agent="float"),
        {"event_type": "step", "session_id": "f4", "event_id": "f4-1",
         "timestamp": "2025-05-01T12:00:01Z", "duration_ms": 0.7},
    ])
    return client


def test_percent_null_when_a_is_zero_and_half_up(small_client):
    body = compare(small_client, "z0", "z1")
    a, b = body["session_a"], body["session_b"]
    assert (a["event_count"], a["error_count"], a["total_processing_ms"],
            a["avg_event_duration_ms"], a["session_duration_ms"]) == (0, 0, 0, 0, 1000)
    assert (a["models"], a["event_types"], a["tools"]) == ({}, {}, {})
    assert b["event_count"] == 2
    assert b["error_count"] == 1                # agent_error
    assert b["total_processing_ms"] == 2.25     # 1.0 + 1.25
    assert b["avg_event_duration_ms"] == 1.13   # 2.25 / 2 = 1.125 -> half-up 1.13
    assert body["deltas"] == {
        "total_tokens": {"absolute": 6, "percent": 18.75},       # 32 -> 38: 6/32
        "tokens_in": {"absolute": 1, "percent": 3.13},           # 1/32 = 3.125 % -> 3.13
        "tokens_out": {"absolute": 5, "percent": None},          # 0 -> 5
        "event_count": {"absolute": 2, "percent": None},
        "error_count": {"absolute": 1, "percent": None},
        "total_processing_ms": {"absolute": 2.25, "percent": None},
        "avg_event_duration_ms": {"absolute": 1.13, "percent": None},
        "cost_usd": {"absolute": 0, "percent": 0},               # no model, no tokens: 0
    }
    assert body["shared"] == {"event_types": ["agent_error", "custom"], "tools": [], "models": []}


def test_percent_when_b_is_zero_and_both_zero(small_client):
    body = compare(small_client, "z1", "z0")
    assert body["deltas"] == {
        "total_tokens": {"absolute": -6, "percent": -15.79},     # -6/38 = -15.789 %
        "tokens_in": {"absolute": -1, "percent": -3.03},         # -1/33 = -3.0303 %
        "tokens_out": {"absolute": -5, "percent": -100},
        "event_count": {"absolute": -2, "percent": -100},
        "error_count": {"absolute": -1, "percent": -100},
        "total_processing_ms": {"absolute": -2.25, "percent": -100},
        "avg_event_duration_ms": {"absolute": -1.13, "percent": -100},
        "cost_usd": {"absolute": 0, "percent": 0},
    }
    body = compare(small_client, "z0", "z2")
    assert body["deltas"] == {
        "total_tokens": {"absolute": -1, "percent": -3.13},      # -1/32 = -3.125 % -> away from 0
        "tokens_in": {"absolute": -1, "percent": -3.13},
        "tokens_out": {"absolute": 0, "percent": 0},             # both 0
        "event_count": {"absolute": 0, "percent": 0},
        "error_count": {"absolute": 0, "percent": 0},
        "total_processing_ms": {"absolute": 0, "percent": 0},
        "avg_event_duration_ms": {"absolute": 0, "percent": 0},
        "cost_usd": {"absolute": 0, "percent": 0},
    }
    assert body["session_b"]["session_duration_ms"] == 500


def test_float_sums_and_float_deltas_are_rounded(small_client):
    body = compare(small_client, "f3", "f4")
    a, b = body["session_a"], body["session_b"]
    assert a["total_processing_ms"] == 0.3     # 0.1 + 0.2, to 3 decimals
    assert a["avg_event_duration_ms"] == 0.15  # 0.3 / 2
    assert b["total_processing_ms"] == 0.7
    assert b["avg_event_duration_ms"] == 0.7
    assert a["status"] == b["status"] == "active"
    assert a["session_duration_ms"] == 2000    # not ended: 11:00:02 - 11:00:00
    assert a["event_types"] == {"step": 2}
    assert body["deltas"]["total_processing_ms"] == {"absolute": 0.4, "percent": 133.33}  # 0.4/0.3
    assert body["deltas"]["avg_event_duration_ms"] == {"absolute": 0.55, "percent": 366.67}  # 0.55/0.15
    assert body["shared"]["event_types"] == ["step"]


# ---------------------------------------------------------------------------
# errors, tools, models, active sessions, late events


def test_error_events_tools_and_models(client):
    s = "mix"
    post_events(client, [
        start(s, "2025-06-01T00:00:00Z", agent="mixer", metadata={"k": [1, 2]}),
        {"event_type": "agent_error", "session_id": s, "event_id": "m1",
         "timestamp": "2025-06-01T00:00:01Z"},                               # error (type)
        {"event_type": "LLM_ERROR", "session_id": s, "event_id": "m2",
         "timestamp": "2025-06-01T00:00:02Z", "model": "gpt-4",
         "tokens_in": 7, "tokens_out": 0},                                   # error (case-insensitive)
        tool(s, "m3", "2025-06-01T00:00:03Z", {"name": "fetch", "success": False}, 10),  # error
        tool(s, "m4", "2025-06-01T00:00:04Z", {"name": "fetch", "error": "timeout"}, 20),  # error
        tool(s, "m5", "2025-06-01T00:00:05Z", {"name": "fetch", "success": True}, 30),
        tool(s, "m6", "2025-06-01T00:00:06Z", {"tool_name": "fetch", "error": ""}),   # no duration
        tool(s, "m7", "2025-06-01T00:00:07Z", {"input": {"no": "name"}}, 5),          # "unknown"
        {"event_type": "decision", "session_id": s, "event_id": "m8",
         "timestamp": "2025-06-01T00:00:08Z", "model": "claude-3",
         "tokens_in": 3, "tokens_out": 4, "duration_ms": 2},
        {"event_type": "llm_call", "session_id": s, "event_id": "m9",
         "timestamp": "2025-06-01T00:00:09Z", "model": "gpt-4",
         "tokens_in": 10, "tokens_out": 20},
        end(s, "2025-06-01T00:01:00Z", status="error"),
    ])
    post_events(client, [start("other", "2025-06-02T00:00:00Z", agent="o")])
    body = compare(client, s, "other")
    assert body["session_a"] == {
        "session_id": s,
        "agent_name": "mixer",
        "status": "error",
        "tokens_in": 20,           # no stated totals: 7 + 3 + 10
        "tokens_out": 24,          # 0 + 4 + 20
        "total_tokens": 44,
        # gpt-4 at $30 / $60 per million: m2 7 x 30 = 210 µ$, m9 10 x 30 + 20 x 60 = 1500;
        # claude-3 has no price, so the cost is incomplete
        "cost_usd": 0.00171,
        "cost_complete": False,
        "event_count": 9,          # m1..m9
        "error_count": 4,          # m1, m2, m3, m4
        "total_processing_ms": 67,       # 10 + 20 + 30 + 5 + 2
        "avg_event_duration_ms": 13.4,   # 67 / 5 timed events
        "session_duration_ms": 60000,
        "models": {
            "gpt-4": {"calls": 2, "tokens_in": 17, "tokens_out": 20,  # m2, m9
                      "cost_usd": 0.00171},
            "claude-3": {"calls": 1, "tokens_in": 3, "tokens_out": 4,  # m8
                         "cost_usd": None},
        },
        "event_types": {"agent_error": 1, "LLM_ERROR": 1, "tool_call": 5,
                        "decision": 1, "llm_call": 1},
        "tools": {
            "fetch": {"calls": 4, "total_duration": 60},    # 10 + 20 + 30 (+ none)
            "unknown": {"calls": 1, "total_duration": 5},
        },
        "metadata": {"k": [1, 2]},
    }
    assert list(body["session_a"]["event_types"]) == [
        "agent_error", "LLM_ERROR", "tool_call", "decision", "llm_call"]
    b = body["session_b"]
    assert (b["status"], b["event_count"], b["session_duration_ms"]) == ("active", 0, 0)
    assert body["deltas"]["error_count"] == {"absolute": -4, "percent": -100}
    assert body["deltas"]["avg_event_duration_ms"] == {"absolute": -13.4, "percent": -100}


def test_active_session_duration_and_late_and_early_events(client):
    # events arrive in any order, one before the session_start, one after session_end
    post_events(client, [
        llm("late", "l3", "2025-07-01T12:00:30Z", "gpt-4", 1, 1, 3),
        end("late", "2025-07-01T12:00:20Z", total_tokens_in=100, total_tokens_out=50),
        llm("late", "l2", "2025-07-01T12:00:10Z", "gpt-4", 1, 1, 2),
    ])
    post_events(client, [
        start("late", "2025-07-01T12:00:05Z", agent="late-agent"),
        llm("late", "l1", "2025-07-01T12:00:00Z", "gpt-4", 1, 1, 1),  # before session_start
    ])
    post_events(client, [
        start("open", "2025-07-01T13:00:00Z", agent="open-agent"),
        llm("open", "o1", "2025-07-01T13:00:02.500Z", "gpt-4", 5, 6, 10),
        llm("open", "o2", "2025-07-01T13:00:12.345Z", "gpt-4", 5, 6, 20),
    ])
    body = compare(client, "late", "open")
    a, b = body["session_a"], body["session_b"]
    assert a["agent_name"] == "late-agent"
    assert a["status"] == "completed"
    assert a["event_count"] == 3                       # the late event counts
    assert (a["tokens_in"], a["tokens_out"], a["total_tokens"]) == (100, 50, 150)
    # 3 x (1 x $30 + 1 x $60 per million) = 270 µ$
    assert a["models"] == {"gpt-4": {"calls": 3, "tokens_in": 3, "tokens_out": 3,
                                     "cost_usd": 0.00027}}
    assert a["total_processing_ms"] == 6 and a["avg_event_duration_ms"] == 2
    assert a["session_duration_ms"] == 20000           # started_at = 12:00:00 (earliest), ended 12:00:20
    assert b["status"] == "active"
    assert b["session_duration_ms"] == 12345           # not ended: last event 13:00:12.345 - 13:00:00
    assert (b["tokens_in"], b["tokens_out"], b["total_tokens"]) == (10, 12, 22)
    assert b["avg_event_duration_ms"] == 15
    assert body["deltas"]["total_tokens"] == {"absolute": -128, "percent": -85.33}  # -128/150
    assert body["deltas"]["avg_event_duration_ms"] == {"absolute": 13, "percent": 650}  # 13/2


# ---------------------------------------------------------------------------
# request errors


def test_names_in_the_order_the_events_are_listed_as_the_export_gives_them(client):
    # Arrival order differs from time order: "late" arrives first but is listed last.
    post_events(client, [
        {"event_type": "llm_call", "session_id": "order", "event_id": "late", "model": "model-a",
         "timestamp": "2025-04-02T00:00:09Z", "tool_call": {"name": "tool-a"}},
        {"event_type": "tool_call", "session_id": "order", "event_id": "first",
         "model": "model-b", "timestamp": "2025-04-02T00:00:05Z", "tool_call": {"name": "tool-b"}},
        {"event_type": "llm_call", "session_id": "order", "event_id": "tie", "model": "model-a",
         "timestamp": "2025-04-02T00:00:05Z", "tool_call": {"name": "tool-a"}},
    ])
    side = compare(client, "order", "order")["session_a"]
    assert list(side["models"]) == ["model-b", "model-a"]
    assert list(side["event_types"]) == ["tool_call", "llm_call"]
    assert list(side["tools"]) == ["tool-b", "tool-a"]
    summary = client.get("/sessions/order/export").get_json()["summary"]
    assert (summary["models_used"], summary["event_types"]) == (
        ["model-b", "model-a"], ["tool_call", "llm_call"])


def test_missing_fields_are_400_naming_the_field(reference_client):
    for body, field in (({"session_b": "ref-b"}, "session_a"),
                        ({"session_a": "ref-a"}, "session_b")):
        response = reference_client.post("/sessions/compare", json=body)
        assert field in assert_error(response, 400)
    response = reference_client.post("/sessions/compare", json={})
    message = assert_error(response, 400)
    assert "session_a" in message or "session_b" in message


def test_body_not_json_is_400(reference_client):
    response = reference_client.post("/sessions/compare", data="{nope",
                                     content_type="application/json")
    assert_error(response, 400)


def test_unknown_session_is_404_naming_which(reference_client):
    response = reference_client.post("/sessions/compare",
                                     json={"session_a": "nope", "session_b": "ref-b"})
    message = assert_error(response, 404)
    assert "session_a" in message and "session_b" not in message
    response = reference_client.post("/sessions/compare",
                                     json={"session_a": "ref-a", "session_b": "nope"})
    message = assert_error(response, 404)
    assert "session_b" in message and "session_a" not in message


def test_percent_and_average_round_the_exact_decimal_not_a_float(client):
    # (183 - 160) / 160 * 100 = 14.375 exactly -> 14.38 (in floating point it is 14.374999...)
    # durations 618.98 + 854.05 + 497.56 + 275.19 = 2245.78; / 4 = 561.445 exactly -> 561.45
    durations = [618.98, 854.05, 497.56, 275.19]
    events = [{"session_id": "ra", "event_id": "a", "tokens_in": 160, "timestamp": "2026-01-01T00:00:00Z"}]
    events += [{"session_id": "rb", "event_id": f"b{i}", "tokens_in": 183 if i == 0 else 0,
                "duration_ms": d, "timestamp": f"2026-01-01T00:00:0{i}Z"} for i, d in enumerate(durations)]
    assert client.post("/events", json={"events": events}).status_code == 200
    body = client.post("/sessions/compare", json={"session_a": "ra", "session_b": "rb"}).get_json()
    assert body["deltas"]["tokens_in"] == {"absolute": 23, "percent": 14.38}
    assert body["session_b"]["avg_event_duration_ms"] == 561.45
    assert body["session_b"]["total_processing_ms"] == 2245.78


def test_figures_kept_by_revision_follow_every_change(client):
    """A session compared again unchanged gives the same figures; after a new event, a
    new session_end and a delete and re-creation, the figures of the new state, as a
    process that never compared it gives them."""
    from agentlens.read import compare as reading

    def fresh(a, b):
        reading.KEPT.entries.clear()
        return compare(client, a, b)

    def same(first, second):
        return {**first, "compared_at": None} == {**second, "compared_at": None}

    post_events(client, [
        {"event_type": "llm_call", "session_id": "kr-a", "event_id": "a1", "model": "m1",
         "tokens_in": 10, "tokens_out": 1, "timestamp": "2026-03-01T10:00:00Z"},
        {"event_type": "llm_call", "session_id": "kr-b", "event_id": "b1", "model": "m1",
         "tokens_in": 20, "tokens_out": 2, "timestamp": "2026-03-01T10:00:00Z",
         "duration_ms": 5}])
    first = compare(client, "kr-a", "kr-b")
    assert same(compare(client, "kr-a", "kr-b"), first)
    post_events(client, [{"event_type": "tool_call", "session_id": "kr-b", "event_id": "b2",
                          "tool_call": {"name": "search"}, "duration_ms": 7,
                          "timestamp": "2026-03-01T10:00:01Z"}])
    second = compare(client, "kr-a", "kr-b")
    assert second["session_b"]["event_count"] == 2
    assert second["session_b"]["tools"] == {"search": {"calls": 1, "total_duration": 7.0}}
    assert same(second, fresh("kr-a", "kr-b"))
    post_events(client, [{"event_type": "session_end", "session_id": "kr-a",
                          "status": "error", "timestamp": "2026-03-01T10:00:09Z"}])
    third = compare(client, "kr-a", "kr-b")
    assert (third["session_a"]["status"], third["session_a"]["session_duration_ms"]) == (
        "error", 9000)
    assert same(third, fresh("kr-a", "kr-b"))
    assert client.delete("/sessions/kr-b").status_code == 204
    post_events(client, [{"event_type": "llm_call", "session_id": "kr-b", "event_id": "b9",
                          "model": "m2", "tokens_in": 3, "timestamp": "2026-03-01T11:00:00Z"}])
    fourth = compare(client, "kr-a", "kr-b")
    assert fourth["session_b"]["models"] == {
        "m2": {"calls": 1, "tokens_in": 3, "tokens_out": 0, "cost_usd": None}}
    assert same(fourth, fresh("kr-a", "kr-b"))


def test_kept_figures_follow_a_session_only_update_and_an_amendment(app, client):
    """An AgentOps agent naming the session (no event stored: its name and metadata
    change) and an amended event (no event added) each give the compared session new
    figures."""
    from test_format_agentops import bearer, token_for

    token = token_for(app, client, "kr-ao", init_timestamp="2026-03-01T10:00:00Z")
    assert client.post("/v2/create_events", headers=bearer(token), json={"events": [
        {"id": "x1", "type": "llm", "model": "gpt-4o", "prompt_tokens": 10,
         "init_timestamp": "2026-03-01T10:00:01Z"}]}).status_code == 200
    post_events(client, [{"event_type": "llm_call", "session_id": "kr-other", "event_id": "o1",
                          "timestamp": "2026-03-01T10:00:00Z"}])
    first = compare(client, "kr-ao", "kr-other")["session_a"]
    assert (first["agent_name"], first["tokens_in"]) == ("unknown", 10)
    assert client.post("/v2/create_agent", headers=bearer(token),
                       json={"id": "agent-1", "name": "Researcher"}).status_code == 200
    assert compare(client, "kr-ao", "kr-other")["session_a"]["agent_name"] == "Researcher"
    assert client.post("/v2/update_events", headers=bearer(token), json={"events": [
        {"id": "x1", "prompt_tokens": 25}]}).status_code == 200
    amended = compare(client, "kr-ao", "kr-other")["session_a"]
    assert (amended["tokens_in"], amended["models"]["gpt-4o"]["tokens_in"]) == (25, 25)


def test_the_cost_delta_is_taken_from_the_exact_costs(client):
    # gpt-4o-mini at $0.15 per million input tokens: 2 tokens cost 300 n$ (shown as 0.0),
    # 10 tokens 1,500 n$ (0.000002); B costs 400 % more, 1,200 n$ = 0.000001 more.
    for session_id, tokens in (("tiny-a", 2), ("tiny-b", 10)):
        response = client.post("/events", json={"events": [{
            "session_id": session_id, "event_type": "llm_call", "model": "gpt-4o-mini",
            "tokens_in": tokens, "tokens_out": 0, "timestamp": "2026-02-14T10:00:00Z"}]})
        assert response.status_code == 200, response.get_data(as_text=True)
    result = client.post("/sessions/compare", json={"session_a": "tiny-a",
                                                    "session_b": "tiny-b"}).get_json()
    assert (result["session_a"]["cost_usd"], result["session_b"]["cost_usd"]) == (0.0, 0.000002)
    assert result["deltas"]["cost_usd"] == {"absolute": 0.000001, "percent": 400.0}
    assert "cost_nanos" not in result["session_a"]
