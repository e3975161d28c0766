"""Contract tests for GET /analytics (and the shared filters of GET /sessions).

Contract: /work/shared/spec/agentlens-rest-api.txt plus DECISIONS.md (DECISIONS wins).
Expected values are worked out by hand from the events the test sends (the
arithmetic is in the comments), or, for the randomised test, by brute force
over the data sent; nothing is computed by the code under test.
"""
import math
import random
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from urllib.parse import urlencode

import pytest

from agentlens import db as store
from helpers import assert_error

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
SECTIONS = ["overview", "duration", "top_agents", "model_usage", "event_types",
            "sessions_over_time", "hourly_activity", "unpriced_models"]


# ---------------------------------------------------------------------------
# helpers

def now_ms():
    return time.time_ns() // 1_000_000


def utc(ms):
    """The API's way of writing a time: 2026-02-14T10:30:00.000Z."""
    moment = EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def day(ms):
    return (EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%d")


def iso(ms, offset_minutes=0):
    """The same instant written with a UTC offset (e.g. +05:30); 0 -> Z."""
    if offset_minutes == 0:
        return utc(ms)
    tz = timezone(timedelta(minutes=offset_minutes))
    return (EPOCH + timedelta(milliseconds=ms)).astimezone(tz).isoformat(timespec="milliseconds")


def post_events(client, events):
    for first in range(0, len(events), 500):
        response = client.post("/events", json={"events": events[first:first + 500]})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "rejected" not in response.get_json(), response.get_json()


def get_analytics(client, **params):
    url = "/analytics" + ("?" + urlencode(params) if params else "")
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == set(SECTIONS), body
    return body


def list_sessions(client, **params):
    response = client.get("/sessions?" + urlencode(params))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    return [s["session_id"] for s in body["sessions"]], body["total"]


def start(sid, ts, agent, **extra):
    return {"event_type": "session_start", "session_id": sid, "agent_name": agent,
            "timestamp": ts, **extra}


def end(sid, ts, **extra):
    return {"event_type": "session_end", "session_id": sid, "timestamp": ts, **extra}


def event(sid, eid, event_type, ts, **extra):
    return {"event_type": event_type, "session_id": sid, "event_id": eid, "timestamp": ts,
            **extra}


def agent(name, sessions, tokens, avg, cost_usd=0):
    return {"agent_name": name, "session_count": sessions, "total_tokens": tokens,
            "avg_tokens": avg, "total_cost_usd": cost_usd}


def model(name, calls, tokens_in, tokens_out, avg, cost_usd=0):
    """cost_usd is None for a model some of whose calls had tokens but no price."""
    return {"model": name, "call_count": calls, "total_tokens": tokens_in + tokens_out,
            "total_tokens_in": tokens_in, "total_tokens_out": tokens_out,
            "avg_duration_ms": avg, "cost_usd": cost_usd}


EMPTY_DURATION = {"avg_ms": 0, "min_ms": 0, "max_ms": 0}


# ---------------------------------------------------------------------------
# empty store

def test_empty_store(client):
    assert get_analytics(client) == {
        "overview": {
            "total_sessions": 0, "active_sessions": 0, "completed_sessions": 0,
            "error_sessions": 0, "error_rate": 0, "total_events": 0, "total_tokens": 0,
            "total_tokens_in": 0, "total_tokens_out": 0, "total_cost_usd": 0,
            "avg_tokens_per_session": 0,
            "earliest_session": None, "latest_session": None,
        },
        "duration": EMPTY_DURATION,
        "top_agents": [], "model_usage": [], "event_types": [],
        "sessions_over_time": [], "hourly_activity": [], "unpriced_models": [],
    }


# ---------------------------------------------------------------------------
# The main fixture: four sessions over three recent days (relative to now, so
# that sessions_over_time shows them). D0 = today's UTC midnight - 3 days.

def main_days():
    d0 = now_ms() // DAY_MS * DAY_MS - 3 * DAY_MS
    return d0, d0 + DAY_MS, d0 + 2 * DAY_MS


def t(day_ms, hh, mm=0, ss=0, ms=0):
    return day_ms + hh * HOUR_MS + mm * 60_000 + ss * 1000 + ms


def main_sessions(d0, d1, d2):
    """One list of events per session."""
    return [
        [   # an-1, alpha: completed, no stated totals -> 160 / 70
            start("an-1", iso(t(d0, 8)), "alpha"),
            event("an-1", "an-1-e1", "llm_call", iso(t(d0, 8, 0, 10)), model="gpt-4",
                  tokens_in=100, tokens_out=50, duration_ms=200),
            event("an-1", "an-1-e2", "llm_call", iso(t(d0, 8, 30), 330), model="gpt-4",
                  tokens_in=60, tokens_out=20, duration_ms=300),
            event("an-1", "an-1-e3", "tool_call", iso(t(d0, 9, 10)), duration_ms=50,
                  tool_call={"name": "search", "input": {"q": "x"}}),
            end("an-1", iso(t(d0, 10), -480)),   # hour 10 has no counted event
        ],
        [   # an-2, alpha: error, stated totals 1000 / 500; written in +05:30
            start("an-2", iso(t(d0, 18), 330), "alpha"),
            event("an-2", "an-2-e1", "llm_call", iso(t(d0, 18, 5), 330), model="claude-3",
                  tokens_in=40, tokens_out=10, duration_ms=100.5),
            event("an-2", "an-2-e2", "agent_error", iso(t(d0, 18, 6), 330)),
            end("an-2", iso(t(d0, 18, 10), 330), status="error",
                total_tokens_in=1000, total_tokens_out=500),
        ],
        [   # an-3, beta: active (never ended), 10 / 5; session_start alone in hour 1
            start("an-3", iso(t(d1, 1, 59)), "beta"),
            event("an-3", "an-3-e1", "llm_call", iso(t(d1, 2, 0, 30)), model="gpt-4",
                  tokens_in=10, tokens_out=5),   # no duration_ms
            event("an-3", "an-3-e2", "decision", iso(t(d1, 2, 1)), duration_ms=25),
        ],
        [   # an-4, gamma: completed; an event before its session_start; 230 / 130
            start("an-4", iso(t(d2, 13), -480), "gamma"),
            event("an-4", "an-4-e1", "llm_call", iso(t(d2, 13, 0, 1)), model="gpt-4",
                  tokens_in=200, tokens_out=100, duration_ms=400),
            event("an-4", "an-4-e2", "llm_call", iso(t(d2, 13, 59, 59, 999)), model="claude-3",
                  tokens_in=30, tokens_out=30, duration_ms=99.5),
            event("an-4", "an-4-e3", "tool_call", iso(t(d2, 14)), duration_ms=1000,
                  tool_call={"name": "fetch", "success": False}),
            event("an-4", "an-4-e4", "custom", iso(t(d2, 12, 59)), duration_ms=1),
            end("an-4", iso(t(d2, 14, 0, 30))),
        ],
    ]


# Costs: gpt-4 at $30 / $60 per million tokens (in / out), so one token in is
# 30 µ$ and one out 60 µ$: an-1-e1 100/50 = 6000 µ$, an-1-e2 60/20 = 3000, an-3-e1
# 10/5 = 600, an-4-e1 200/100 = 12,000. claude-3 has no price: its calls are listed.
def main_expected(d0, d1, d2):
    return {
        "overview": {
            "total_sessions": 4,
            "active_sessions": 1,          # an-3
            "completed_sessions": 2,       # an-1, an-4
            "error_sessions": 1,           # an-2
            "error_rate": 25.0,            # 1 / 4
            "total_events": 11,            # 3 + 2 + 2 + 4
            "total_tokens": 2105,          # 1400 + 705
            "total_tokens_in": 1400,       # 160 + 1000 + 10 + 230
            "total_tokens_out": 705,       # 70 + 500 + 5 + 130
            "total_cost_usd": 0.0216,      # 6000 + 3000 + 600 + 12,000 µ$
            "avg_tokens_per_session": 526,  # 2105 / 4 = 526.25
            "earliest_session": utc(t(d0, 8)),
            "latest_session": utc(t(d2, 12, 59)),   # an-4 starts at its early event
        },
        # ended: an-1 2 h = 7_200_000; an-2 10 min = 600_000;
        # an-4 12:59:00 -> 14:00:30 = 3_690_000; avg 11_490_000 / 3
        "duration": {"avg_ms": 3_830_000, "min_ms": 600_000, "max_ms": 7_200_000},
        "top_agents": [
            agent("alpha", 2, 1730, 865, 0.009),    # 230 + 1500; 6000 + 3000 µ$
            agent("gamma", 1, 360, 360, 0.012),
            agent("beta", 1, 15, 15, 0.0006),
        ],
        "model_usage": [
            # 100+60+10+200 / 50+20+5+100; durations (200+300+400)/3 (an-3-e1 untimed)
            model("gpt-4", 4, 370, 175, 300.0, 0.0216),
            model("claude-3", 2, 70, 40, 100.0, None),    # (100.5 + 99.5) / 2
        ],
        "event_types": [
            {"event_type": "llm_call", "count": 6},
            {"event_type": "tool_call", "count": 2},
            {"event_type": "agent_error", "count": 1},
            {"event_type": "custom", "count": 1},
            {"event_type": "decision", "count": 1},
        ],
        "sessions_over_time": [
            {"day": day(d0), "session_count": 2, "total_tokens": 1730, "cost_usd": 0.009},
            {"day": day(d1), "session_count": 1, "total_tokens": 15, "cost_usd": 0.0006},
            {"day": day(d2), "session_count": 1, "total_tokens": 360, "cost_usd": 0.012},
        ],
        "hourly_activity": [
            {"hour": 2, "event_count": 2},
            {"hour": 8, "event_count": 2},
            {"hour": 9, "event_count": 1},
            {"hour": 12, "event_count": 1},
            {"hour": 13, "event_count": 2},
            {"hour": 14, "event_count": 1},
            {"hour": 18, "event_count": 2},
        ],
        "unpriced_models": [{"model": "claude-3", "calls": 2, "tokens": 110}],  # 40+10+30+30
    }


@pytest.fixture
def main_client(client):
    days = main_days()
    for session in main_sessions(*days):
        post_events(client, session)
    client.days = days
    return client


def test_main_fixture_every_section(main_client):
    assert get_analytics(main_client) == main_expected(*main_client.days)


def test_retries_duplicates_and_any_order_change_nothing(make_app):
    days = main_days()
    expected = main_expected(*days)
    events = [e for session in main_sessions(*days) for e in session]
    rng = random.Random(1234)
    for attempt in range(3):
        client = make_app().test_client()
        shuffled = events[:]
        rng.shuffle(shuffled)
        batches = [shuffled[i:i + 3] for i in range(0, len(shuffled), 3)]
        for batch in batches:                     # every batch once ...
            post_events(client, batch)
            assert get_analytics(client)["overview"]["total_events"] <= 11
        retried = batches[:]
        rng.shuffle(retried)
        for batch in retried:                     # ... then all of them again
            post_events(client, batch)
        post_events(client, shuffled[::-1])      # and everything in one batch
        assert get_analytics(client) == expected, attempt
        assert get_analytics(client, agent_name="alpha")["overview"]["total_events"] == 5


def test_filter_agent_name(main_client):
    d0, d1, d2 = main_client.days
    assert get_analytics(main_client, agent_name="alpha") == {
        "overview": {
            "total_sessions": 2, "active_sessions": 0, "completed_sessions": 1,
            "error_sessions": 1, "error_rate": 50.0, "total_events": 5,
            "total_tokens": 1730, "total_tokens_in": 1160, "total_tokens_out": 570,
            "total_cost_usd": 0.009, "avg_tokens_per_session": 865,
            "earliest_session": utc(t(d0, 8)), "latest_session": utc(t(d0, 18)),
        },
        "duration": {"avg_ms": 3_900_000, "min_ms": 600_000, "max_ms": 7_200_000},
        "top_agents": [agent("alpha", 2, 1730, 865, 0.009)],
        "model_usage": [
            model("gpt-4", 2, 160, 70, 250.0, 0.009),       # (200 + 300) / 2
            model("claude-3", 1, 40, 10, 100.5, None),
        ],
        "event_types": [
            {"event_type": "llm_call", "count": 3},
            {"event_type": "agent_error", "count": 1},
            {"event_type": "tool_call", "count": 1},
        ],
        "sessions_over_time": [{"day": day(d0), "session_count": 2, "total_tokens": 1730,
                                "cost_usd": 0.009}],
        "hourly_activity": [{"hour": 8, "event_count": 2}, {"hour": 9, "event_count": 1},
                            {"hour": 18, "event_count": 2}],
        "unpriced_models": [{"model": "claude-3", "calls": 1, "tokens": 50}],
    }
    nobody = get_analytics(main_client, agent_name="nobody")
    assert nobody["overview"]["total_sessions"] == 0
    assert nobody["top_agents"] == nobody["hourly_activity"] == nobody["event_types"] == []


def test_agent_is_another_name_for_agent_name(main_client):
    """The reference filters its analytics by ``agent``: not ignored here."""
    assert get_analytics(main_client, agent="alpha") == get_analytics(main_client,
                                                                     agent_name="alpha")
    assert get_analytics(main_client, agent="alpha", agent_name="alpha")["overview"][
        "total_sessions"] == 2
    assert (main_client.get("/sessions?agent=alpha").get_json()
            == main_client.get("/sessions?agent_name=alpha").get_json())
    response = main_client.get("/analytics?agent=alpha&agent_name=beta")
    assert (response.status_code, response.get_json()) == (
        400, {"error": "agent: Must be the same as 'agent_name' when both are given."})


def test_filter_from_to_half_open(main_client):
    d0, d1, d2 = main_client.days
    # [d1 00:00, d2 12:59:00): an-3 only; an-4 starts exactly at `to` and is out
    assert get_analytics(main_client, **{"from": utc(d1), "to": utc(t(d2, 12, 59))}) == {
        "overview": {
            "total_sessions": 1, "active_sessions": 1, "completed_sessions": 0,
            "error_sessions": 0, "error_rate": 0, "total_events": 2,
            "total_tokens": 15, "total_tokens_in": 10, "total_tokens_out": 5,
            "total_cost_usd": 0.0006, "avg_tokens_per_session": 15,
            "earliest_session": utc(t(d1, 1, 59)), "latest_session": utc(t(d1, 1, 59)),
        },
        "duration": EMPTY_DURATION,        # an-3 has not ended
        "top_agents": [agent("beta", 1, 15, 15, 0.0006)],
        "model_usage": [model("gpt-4", 1, 10, 5, 0, 0.0006)],   # no timed gpt-4 event
        "event_types": [{"event_type": "decision", "count": 1},
                        {"event_type": "llm_call", "count": 1}],
        "sessions_over_time": [{"day": day(d1), "session_count": 1, "total_tokens": 15,
                                "cost_usd": 0.0006}],
        "hourly_activity": [{"hour": 2, "event_count": 2}],
        "unpriced_models": [],
    }
    # `from` is inclusive, and may be written with any offset (URL-encoded "+")
    for start_at in (utc(t(d2, 12, 59)), iso(t(d2, 12, 59), 330)):
        body = get_analytics(main_client, **{"from": start_at})
        assert body["overview"]["total_sessions"] == 1
        assert body["top_agents"] == [agent("gamma", 1, 360, 360, 0.012)]
        assert body["hourly_activity"] == [{"hour": 12, "event_count": 1},
                                           {"hour": 13, "event_count": 2},
                                           {"hour": 14, "event_count": 1}]
    body = get_analytics(main_client, to=iso(t(d2, 12, 59), -480))
    assert body["overview"]["total_sessions"] == 3
    assert body["overview"]["total_tokens"] == 1745      # 230 + 1500 + 15
    # agent and range together: alpha from d0 18:00 -> an-2 only
    body = get_analytics(main_client, agent_name="alpha", **{"from": utc(t(d0, 18))})
    assert body["overview"]["total_sessions"] == 1
    assert body["overview"]["error_rate"] == 100.0
    assert body["duration"] == {"avg_ms": 600_000, "min_ms": 600_000, "max_ms": 600_000}
    # an empty range
    body = get_analytics(main_client, **{"from": utc(d1), "to": utc(d1)})
    assert body["overview"]["total_sessions"] == 0


def test_sessions_list_filters(main_client):
    d0, d1, d2 = main_client.days
    assert list_sessions(main_client, agent_name="alpha") == (["an-2", "an-1"], 2)
    assert list_sessions(main_client, agent_name="alpha", status="error") == (["an-2"], 1)
    assert list_sessions(main_client, **{"from": utc(d1), "to": utc(t(d2, 12, 59))}) == (["an-3"], 1)
    assert list_sessions(main_client, **{"from": iso(t(d2, 12, 59), 330)}) == (["an-4"], 1)
    assert list_sessions(main_client, to=utc(t(d2, 12, 59)), limit=1) == (["an-3"], 3)
    assert list_sessions(main_client, to=utc(t(d2, 12, 59)), limit=2, offset=1) == (
        ["an-2", "an-1"], 3)
    assert list_sessions(main_client, agent_name="gamma", to=utc(d2)) == ([], 0)
    assert list_sessions(main_client) == (["an-4", "an-3", "an-2", "an-1"], 4)


@pytest.mark.parametrize("url", ["/analytics", "/sessions"])
def test_bad_range_parameters(main_client, url):
    for params, name in ((("from", "yesterday"),), "from"), ((("to", "2025-13-01T00:00:00Z"),), "to"):
        response = main_client.get(url + "?" + urlencode(dict(params)))
        assert name in assert_error(response, 400)
    response = main_client.get(url + "?" + urlencode(
        {"from": "2025-02-01T00:00:00Z", "to": "2025-01-31T23:59:59Z"}))
    assert_error(response, 400)


# ---------------------------------------------------------------------------
# the 90-day window and UTC days/hours


def test_sessions_over_time_last_90_days_utc(client):
    now = now_ms()
    d = (now - 10 * DAY_MS) // DAY_MS * DAY_MS          # a UTC midnight 10 days ago
    sessions = [
        # (session id, started_at ms, offset of its writing, tokens_in, tokens_out)
        ("in-89d", now - 89 * DAY_MS, 0, 10, 5),
        ("out-91d", now - 91 * DAY_MS, 0, 7, 0),
        ("edge-in", now - 90 * DAY_MS + HOUR_MS, 330, 1, 1),
        ("edge-out", now - 90 * DAY_MS - HOUR_MS, -480, 3, 3),
        ("tz-1", d + 20 * HOUR_MS, 330, 4, 0),        # written as (d+1) 01:30+05:30
        ("tz-2", d + DAY_MS + 2 * HOUR_MS, -480, 0, 6),  # written as d 18:00-08:00
    ]
    events = []
    for sid, started, offset, tin, tout in sessions:
        events += [
            start(sid, iso(started, offset), "window"),
            event(sid, sid + "-e", "llm_call", iso(started + 60_000, offset), model="m",
                  tokens_in=tin, tokens_out=tout),
            end(sid, iso(started + 120_000, offset)),
        ]
    post_events(client, events)
    body = get_analytics(client)
    assert body["overview"]["total_sessions"] == 6          # overview covers all time
    assert body["overview"]["earliest_session"] == utc(now - 91 * DAY_MS)
    assert iso(d + 20 * HOUR_MS, 330).startswith(day(d + DAY_MS))   # the local day is d+1
    assert iso(d + DAY_MS + 2 * HOUR_MS, -480).startswith(day(d))   # the local day is d
    days = defaultdict(lambda: [0, 0])
    for sid, started, _, tin, tout in sessions:
        if sid in ("in-89d", "edge-in", "tz-1", "tz-2"):
            days[day(started)][0] += 1
            days[day(started)][1] += tin + tout
    assert day(d + 20 * HOUR_MS) in days and day(d + DAY_MS + 2 * HOUR_MS) in days
    # model "m" has no price: no cost, and its calls are listed as unpriced
    expected = [{"day": k, "session_count": v[0], "total_tokens": v[1], "cost_usd": 0}
                for k, v in sorted(days.items())]
    assert body["sessions_over_time"] == expected
    # tz-1 counts on UTC day d (4 tokens), tz-2 on UTC day d+1 (6 tokens)
    assert {"day": day(d), "session_count": 1, "total_tokens": 4,
            "cost_usd": 0} in body["sessions_over_time"]
    assert {"day": day(d + DAY_MS), "session_count": 1, "total_tokens": 6,
            "cost_usd": 0} in body["sessions_over_time"]
    assert body["unpriced_models"] == [{"model": "m", "calls": 6, "tokens": 40}]


def test_a_range_under_two_hours_across_midnight_files_each_session_on_its_day(client):
    midnight = (now_ms() - 10 * DAY_MS) // DAY_MS * DAY_MS
    events = []
    for sid, started, tokens in (("late", midnight - 10 * 60_000, 3),
                                 ("early", midnight + 10 * 60_000, 4)):
        events += [start(sid, utc(started), "night"),
                   event(sid, sid + "-e", "llm_call", utc(started + 1000), model="m",
                         tokens_in=tokens)]
    post_events(client, events)
    body = get_analytics(client, **{"from": utc(midnight - 30 * 60_000),
                                    "to": utc(midnight + 30 * 60_000)})
    assert body["sessions_over_time"] == [
        {"day": day(midnight - 1), "session_count": 1, "total_tokens": 3, "cost_usd": 0},
        {"day": day(midnight), "session_count": 1, "total_tokens": 4, "cost_usd": 0}]
    assert body["overview"]["total_sessions"] == 2 and body["overview"]["total_tokens"] == 7


def test_hourly_activity_in_utc(client):
    s = "tz"
    post_events(client, [
        start(s, "2025-05-31T12:00:00Z", "clock"),                    # lifecycle: hour 12 not shown
        event(s, "h1", "llm_call", "2025-06-01T03:15:00+05:30"),      # 2025-05-31 21:45Z -> 21
        event(s, "h2", "llm_call", "2025-06-01T10:59:59.999+05:30"),  # 05:29:59.999Z -> 5
        event(s, "h3", "step", "2025-06-01T00:29:00+05:30"),          # 2025-05-31 18:59Z -> 18
        event(s, "h4", "step", "2025-05-31T20:00:00-08:00"),          # 2025-06-01 04:00Z -> 4
        event(s, "h5", "step", "2025-06-01T05:30:00+05:30"),          # 00:00Z -> 0
        event(s, "h6", "step", "2025-06-01T05:29:59.999+05:30"),      # 2025-05-31 23:59:59.999Z -> 23
        event(s, "h7", "step", "2025-06-01T05:30:00.000+00:00"),      # 05:30Z -> 5
        end(s, "2025-06-01T09:00:00+05:30"),                          # 03:30Z: lifecycle, not shown
    ])
    body = get_analytics(client)
    assert body["hourly_activity"] == [
        {"hour": 0, "event_count": 1}, {"hour": 4, "event_count": 1},
        {"hour": 5, "event_count": 2}, {"hour": 18, "event_count": 1},
        {"hour": 21, "event_count": 1}, {"hour": 23, "event_count": 1},
    ]
    assert body["event_types"] == [{"event_type": "step", "count": 5},
                                   {"event_type": "llm_call", "count": 2}]
    assert body["overview"]["earliest_session"] == "2025-05-31T12:00:00.000Z"
    # 2025-05-31T12:00Z -> 2025-06-01T03:30Z = 15.5 h
    assert body["duration"] == {"avg_ms": 55_800_000, "min_ms": 55_800_000, "max_ms": 55_800_000}
    assert body["sessions_over_time"] == []          # 2025-05-31 is more than 90 days ago


# ---------------------------------------------------------------------------
# top agents, error rate, rounding


def test_top_agents_top_ten_and_ties(client):
    # (agent, [session totals]) -- totals stated by session_end
    plan = [
        ("ag-j", [40, 30, 30]), ("ag-b", [500]), ("ag-h", [400]), ("ag-k", [300, 200]),
        ("ag-c", [900]), ("ag-l", [50]), ("ag-a", [500]), ("ag-i", [175, 174]),
        ("ag-e", [700]), ("ag-g", [450]), ("ag-d", [800]), ("ag-f", [600]),
    ]
    events = []
    n = 0
    for name, totals in plan:
        for total in totals:
            n += 1
            sid = f"top-{n:02d}"
            events += [start(sid, f"2025-01-{n:02d}T00:00:00Z", name),
                       end(sid, f"2025-01-{n:02d}T00:00:01Z",
                           total_tokens_in=total - total // 3, total_tokens_out=total // 3)]
    post_events(client, events)
    body = get_analytics(client)
    assert body["top_agents"] == [
        agent("ag-c", 1, 900, 900),
        agent("ag-d", 1, 800, 800),
        agent("ag-e", 1, 700, 700),
        agent("ag-f", 1, 600, 600),
        agent("ag-k", 2, 500, 250),      # 500 tokens: more sessions first,
        agent("ag-a", 1, 500, 500),      # then by name
        agent("ag-b", 1, 500, 500),
        agent("ag-g", 1, 450, 450),
        agent("ag-h", 1, 400, 400),
        agent("ag-i", 2, 349, 175),      # 349 / 2 = 174.5 -> half-up 175
    ]                                    # ag-j (100) and ag-l (50) are cut
    overview = body["overview"]
    assert overview["total_sessions"] == 16
    assert overview["total_tokens"] == 5849   # 900+800+700+600+500+500+500+450+400+349+100+50
    assert overview["avg_tokens_per_session"] == 366   # 5849 / 16 = 365.5625
    assert get_analytics(client, agent_name="ag-j")["top_agents"] == [
        agent("ag-j", 3, 100, 33)]            # 100 / 3 = 33.33


def test_error_rate_thirds(client):
    events = []
    for name, statuses in (("x", ["error", "completed", None]), ("y", ["error", "error", "completed"])):
        for i, status in enumerate(statuses):
            sid = f"{name}-{i}"
            events.append(start(sid, f"2025-02-0{i + 1}T10:00:00Z", name))
            if status is not None:
                events.append(end(sid, f"2025-02-0{i + 1}T10:00:05Z", status=status))
    post_events(client, events)
    x = get_analytics(client, agent_name="x")["overview"]
    assert (x["total_sessions"], x["active_sessions"], x["completed_sessions"],
            x["error_sessions"], x["error_rate"]) == (3, 1, 1, 1, 33.33)     # 1 / 3
    y = get_analytics(client, agent_name="y")["overview"]
    assert (y["total_sessions"], y["active_sessions"], y["completed_sessions"],
            y["error_sessions"], y["error_rate"]) == (3, 0, 1, 2, 66.67)     # 2 / 3
    both = get_analytics(client)["overview"]
    assert (both["error_sessions"], both["error_rate"]) == (3, 50.0)         # 3 / 6
    assert get_analytics(client, agent_name="x")["duration"] == {
        "avg_ms": 5000, "min_ms": 5000, "max_ms": 5000}                      # x-2 not ended


def test_error_rate_half_up(client):
    events = []
    for i in range(32):
        sid = f"e32-{i:02d}"
        events += [start(sid, iso(1_735_689_600_000 + i * HOUR_MS), "many"),   # 2025-01-01 + i h
                   end(sid, iso(1_735_689_600_000 + i * HOUR_MS + 1000),
                       status="error" if i == 7 else "completed")]
    post_events(client, events)
    overview = get_analytics(client)["overview"]
    assert overview["error_sessions"] == 1
    assert overview["error_rate"] == 3.13          # 1 / 32 = 3.125 % -> half-up (not 3.12)


def test_half_up_rounding(client):
    events = []
    for i in range(8):
        sid = f"r-{i}"
        begin = 1_738_368_000_000 + i * DAY_MS        # 2025-02-01 + i days
        # durations 1000 ms x 7 and 1004 ms; stated tokens 1+1 x 7 and 3+3
        last = i == 7
        events += [start(sid, iso(begin), "rounder"),
                   end(sid, iso(begin + (1004 if last else 1000)),
                       total_tokens_in=3 if last else 1, total_tokens_out=3 if last else 1,
                       status="error" if last else "completed")]
    events += [
        event("r-0", "m1", "llm_call", iso(1_738_368_000_100), model="tie-model", duration_ms=1.0),
        event("r-0", "m2", "llm_call", iso(1_738_368_000_200), model="tie-model", duration_ms=1.25),
        event("r-1", "m3", "llm_call", iso(1_738_368_000_300 + DAY_MS), model="m-2675",
              duration_ms=2.675),
        event("r-2", "m4", "llm_call", iso(1_738_368_000_400 + 2 * DAY_MS), model="m-x",
              duration_ms=0.015),
    ]
    post_events(client, events)
    body = get_analytics(client)
    assert body["duration"] == {"avg_ms": 1001,          # 8004 / 8 = 1000.5 -> 1001, whole ms
                                "min_ms": 1000, "max_ms": 1004}
    assert body["overview"]["avg_tokens_per_session"] == 3   # (7*2 + 6) / 8 = 2.5 -> 3
    assert body["overview"]["error_rate"] == 12.5            # 1 / 8
    assert body["top_agents"] == [agent("rounder", 8, 20, 3)]
    assert body["model_usage"] == [
        model("tie-model", 2, 0, 0, 1.13),   # (1.0 + 1.25) / 2 = 1.125 -> 1.13
        model("m-2675", 1, 0, 0, 2.68),      # 2.675 -> 2.68 (round() would say 2.67)
        model("m-x", 1, 0, 0, 0.02),         # 0.015 -> 0.02 (round() would say 0.01)
    ]


# ---------------------------------------------------------------------------
# brute force: random sessions delivered out of order, with retries


AGENTS = ["planner", "coder", "reviewer", "searcher", "writer", "tester"]
MODELS = ["gpt-4", "gpt-4o", "claude-3", "llama-3"]
# The providers' published prices in nano-dollars per token (USD per million x 1000):
# gpt-4 $30 in / $60 out; gpt-4o $2.50 in, $1.25 cached input, $10 out (reasoning is
# output). claude-3 and llama-3 have no price.
NANOS_PER_TOKEN = {"gpt-4": {"input": 30_000, "cached": 30_000, "output": 60_000},
                   "gpt-4o": {"input": 2_500, "cached": 1_250, "output": 10_000}}
TYPES = ["llm_call"] * 5 + ["tool_call"] * 3 + ["decision", "agent_error", "custom", "Retry_Error"]
OFFSETS = [0, 0, 330, -480, 60, 585, -210]


def exact(duration):
    return Fraction(duration) if isinstance(duration, int) else Fraction(Decimal(repr(duration)))


def half_up(value, places):
    """Round a non-negative Fraction half up; an int for 0 places."""
    n = math.floor(value * 10 ** places + Fraction(1, 2))
    return n if places == 0 else float(Fraction(n, 10 ** places))


def usd(nanos):
    """Nano-dollars as the API shows them: USD rounded half up to 6 places."""
    return half_up(Fraction(nanos, 10**9), 6)


def event_cost(mdl, fields):
    """The cost of an event in nano-dollars, or None when it has no price."""
    if "cost_usd" in fields:   # the client's own cost wins
        return int(Decimal(repr(fields["cost_usd"])) * 10**9)
    prices = NANOS_PER_TOKEN.get(mdl)
    if prices is None or ("tokens_in" not in fields and "tokens_out" not in fields):
        return None
    cached = fields.get("cache_read_tokens", 0)
    return ((fields.get("tokens_in", 0) - cached) * prices["input"] + cached * prices["cached"]
            + fields.get("tokens_out", 0) * prices["output"])


def generate(rng, now, days=range(2, 121)):
    """Random sessions: the wire events (unique) and the truth about each session."""
    midnight = now // DAY_MS * DAY_MS
    wire, truth = [], {}
    eid = 0
    for i in range(30):
        sid = f"bf-{i:02d}"
        days_ago = rng.choice([d for d in days if d not in (89, 90, 91)])
        begin = midnight - days_ago * DAY_MS + rng.randrange(DAY_MS)
        name = rng.choice(AGENTS)
        wire.append(start(sid, iso(begin, rng.choice(OFFSETS)), name, metadata={"i": i}))
        times, counted = [begin], []
        for k in range(rng.randint(4, 16)):
            eid += 1
            ts = begin + rng.randrange(3 * HOUR_MS)
            if k == 0 and rng.random() < 0.2:
                ts = begin - rng.randrange(1, 30 * 60_000)    # before its session_start
            event_type = rng.choice(TYPES)
            fields = {}
            mdl = None
            if event_type == "llm_call" or rng.random() < 0.1:
                mdl = rng.choice(MODELS)
                fields.update(model=mdl, tokens_in=rng.randint(0, 500),
                              tokens_out=rng.randint(0, 300))
                if rng.random() < 0.3:
                    fields["cache_read_tokens"] = rng.randint(0, fields["tokens_in"])
                if rng.random() < 0.2:
                    fields["reasoning_tokens"] = rng.randint(0, fields["tokens_out"])
                if rng.random() < 0.1:
                    fields["cost_usd"] = round(rng.uniform(0, 0.05), 6)
            elif rng.random() < 0.1:
                fields["tokens_in"] = rng.randint(0, 50)
            r = rng.random()
            if r < 0.6:
                fields["duration_ms"] = round(rng.uniform(0, 2000), 2)
            elif r < 0.7:
                fields["duration_ms"] = rng.randint(0, 500)
            elif r < 0.75:
                fields["duration_ms"] = 0
            if event_type == "tool_call":
                tool_name = rng.choice(["search", "calc", "fetch", None])
                call = {} if tool_name is None else {rng.choice(["name", "tool_name"]): tool_name}
                if rng.random() < 0.2:
                    call["success"] = False
                fields["tool_call"] = call
            wire.append(event(sid, f"bf-e{eid}", event_type, iso(ts, rng.choice(OFFSETS)), **fields))
            times.append(ts)
            counted.append({
                "type": event_type, "model": mdl, "hour": ts // HOUR_MS % 24,
                "tokens_in": fields.get("tokens_in", 0), "tokens_out": fields.get("tokens_out", 0),
                "duration": None if "duration_ms" not in fields else exact(fields["duration_ms"]),
                "cost": event_cost(mdl, fields),
            })
        session = {"agent": name, "status": "active", "ended": None, "counted": counted,
                   "tokens_in": sum(e["tokens_in"] for e in counted),
                   "tokens_out": sum(e["tokens_out"] for e in counted),
                   "cost": sum(e["cost"] or 0 for e in counted)}
        if rng.random() < 0.75:
            if rng.random() < 0.2:
                ended = begin + rng.randrange(3 * HOUR_MS)      # later events arrive "late"
            else:
                ended = max(times) + rng.randrange(60_000)
            times.append(ended)
            fields = {}
            status = rng.choice([None, "completed", "completed", "error"])
            if status is not None:
                fields["status"] = status
            if rng.random() < 0.4:
                fields.update(total_tokens_in=rng.randint(0, 5000),
                              total_tokens_out=rng.randint(0, 2000))
                session.update(tokens_in=fields["total_tokens_in"],
                               tokens_out=fields["total_tokens_out"])
            wire.append(end(sid, iso(ended, rng.choice(OFFSETS)), **fields))
            session.update(status=status or "completed", ended=ended)
        session["started"] = min(times)
        truth[sid] = session
    return wire, truth


def brute_force(sessions, now):
    """Every analytics figure, from the truth about the selected sessions."""
    n = len(sessions)
    tokens_in = sum(s["tokens_in"] for s in sessions)
    tokens_out = sum(s["tokens_out"] for s in sessions)
    statuses = Counter(s["status"] for s in sessions)
    events = [e for s in sessions for e in s["counted"]]
    ended = [s["ended"] - s["started"] for s in sessions if s["ended"] is not None]
    overview = {
        "total_sessions": n,
        "active_sessions": statuses["active"],
        "completed_sessions": statuses["completed"],
        "error_sessions": statuses["error"],
        "error_rate": half_up(Fraction(statuses["error"] * 100, n), 2) if n else 0,
        "total_events": len(events),
        "total_tokens": tokens_in + tokens_out,
        "total_tokens_in": tokens_in,
        "total_tokens_out": tokens_out,
        "total_cost_usd": usd(sum(s["cost"] for s in sessions)),
        "avg_tokens_per_session": half_up(Fraction(tokens_in + tokens_out, n), 0) if n else 0,
        "earliest_session": utc(min(s["started"] for s in sessions)) if n else None,
        "latest_session": utc(max(s["started"] for s in sessions)) if n else None,
    }
    duration = EMPTY_DURATION
    if ended:
        duration = {"avg_ms": half_up(Fraction(sum(ended), len(ended)), 0),
                    "min_ms": min(ended), "max_ms": max(ended)}
    agents = defaultdict(lambda: [0, 0, 0])
    for s in sessions:
        agents[s["agent"]][0] += 1
        agents[s["agent"]][1] += s["tokens_in"] + s["tokens_out"]
        agents[s["agent"]][2] += s["cost"]
    ranked = sorted(agents.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:10]
    top = [agent(k, c, tok, half_up(Fraction(tok, c), 0), usd(cost))
           for k, (c, tok, cost) in ranked]
    models = defaultdict(list)
    for e in events:
        if e["model"] is not None:
            models[e["model"]].append(e)
    usage = []
    for name, evs in sorted(models.items(), key=lambda kv: (
            -sum(e["tokens_in"] + e["tokens_out"] for e in kv[1]), -len(kv[1]), kv[0])):
        timed = [e["duration"] for e in evs if e["duration"] is not None]
        avg = half_up(sum(timed) / len(timed), 2) if timed else 0
        unpriced = any(is_unpriced(e) for e in evs)
        usage.append(model(name, len(evs), sum(e["tokens_in"] for e in evs),
                           sum(e["tokens_out"] for e in evs), avg,
                           None if unpriced else usd(sum(e["cost"] or 0 for e in evs))))
    unpriced = defaultdict(lambda: [0, 0])
    for e in events:
        if is_unpriced(e):
            unpriced[e["model"]][0] += 1
            unpriced[e["model"]][1] += e["tokens_in"] + e["tokens_out"]
    types = Counter(e["type"] for e in events)
    since = now - 90 * DAY_MS
    days = defaultdict(lambda: [0, 0, 0])
    for s in sessions:
        if s["started"] >= since:
            days[day(s["started"])][0] += 1
            days[day(s["started"])][1] += s["tokens_in"] + s["tokens_out"]
            days[day(s["started"])][2] += s["cost"]
    hours = Counter(e["hour"] for e in events)
    return {
        "overview": overview,
        "duration": duration,
        "top_agents": top,
        "model_usage": usage,
        "event_types": [{"event_type": k, "count": v}
                        for k, v in sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))],
        "sessions_over_time": [{"day": k, "session_count": v[0], "total_tokens": v[1],
                                "cost_usd": usd(v[2])} for k, v in sorted(days.items())],
        "hourly_activity": [{"hour": h, "event_count": c} for h, c in sorted(hours.items())],
        "unpriced_models": [{"model": k, "calls": v[0], "tokens": v[1]} for k, v in sorted(
            unpriced.items(), key=lambda kv: (-kv[1][0], kv[0] is None, kv[0] or ""))],
    }


def is_unpriced(e):
    """Tokens but no price: its cost is unknown, not zero."""
    return e["cost"] is None and e["tokens_in"] + e["tokens_out"] > 0


def deliver(client, rng, wire):
    """Shuffled batches, a share of them retried, some events sent again on their own."""
    shuffled = wire[:]
    rng.shuffle(shuffled)
    batches, i = [], 0
    while i < len(shuffled):
        size = rng.randint(1, 60)
        batches.append(shuffled[i:i + size])
        i += size
    for batch in batches:
        post_events(client, batch)
    for batch in rng.sample(batches, len(batches) * 2 // 5):
        post_events(client, batch)
    post_events(client, rng.sample(wire, 25))


@pytest.mark.parametrize("seed", [20261123, 7])
def test_brute_force_random_sessions(app, seed):
    client = app.test_client()
    rng = random.Random(seed)
    now = now_ms()
    wire, truth = generate(rng, now)
    assert len(wire) > 300
    counted = [e for s in truth.values() for e in s["counted"]]
    assert sum(e["cost"] is not None for e in counted) > 20   # priced, some by the client,
    assert sum(is_unpriced(e) for e in counted) > 20          # and unpriced events
    deliver(client, rng, wire)
    everything = list(truth.values())

    assert get_analytics(client) == brute_force(everything, now)

    for name in AGENTS[:3]:
        chosen = [s for s in everything if s["agent"] == name]
        assert get_analytics(client, agent_name=name) == brute_force(chosen, now), name
        ids = sorted((sid for sid, s in truth.items() if s["agent"] == name),
                     key=lambda sid: -truth[sid]["started"])
        assert list_sessions(client, agent_name=name, limit=200) == (ids, len(ids))

    midnight = now // DAY_MS * DAY_MS
    low, high = midnight - 60 * DAY_MS + 12_345, midnight - 10 * DAY_MS
    in_range = {sid: s for sid, s in truth.items() if low <= s["started"] < high}
    params = {"from": iso(low, 330), "to": iso(high, -480)}
    assert get_analytics(client, **params) == brute_force(list(in_range.values()), now)
    ids = sorted(in_range, key=lambda sid: -in_range[sid]["started"])
    assert list_sessions(client, limit=200, **params) == (ids, len(ids))
    both = [s for s in in_range.values() if s["agent"] == AGENTS[0]]
    assert get_analytics(client, agent_name=AGENTS[0], **params) == brute_force(both, now)

    # the raw tables agree with the data sent
    db = store.connect(app.config["DATABASE"])
    try:
        counted = [e for s in everything for e in s["counted"]]
        rows = db.execute("""
            SELECT event_type, count(*) FROM events
            WHERE event_type NOT IN ('session_start', 'session_end') GROUP BY event_type""").fetchall()
        assert dict(map(tuple, rows)) == dict(Counter(e["type"] for e in counted))
        rows = db.execute("""
            SELECT (ts / 3600000) % 24, count(*) FROM events
            WHERE event_type NOT IN ('session_start', 'session_end') GROUP BY 1""").fetchall()
        assert dict(map(tuple, rows)) == dict(Counter(e["hour"] for e in counted))
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == len(wire)
        rows = db.execute("SELECT session_id, started_at, ended_at, status FROM sessions").fetchall()
        assert {r[0]: r[1:] for r in rows} == {
            sid: (s["started"], s["ended"], s["status"]) for sid, s in truth.items()}
    finally:
        db.close()


@pytest.mark.parametrize("seed", [3, 11, 2026])
def test_brute_force_ranges_that_cut_days_and_hours(app, seed):
    """Sessions packed into three days, read through ranges whose edges fall anywhere:
    inside an hour, inside a day, across days, open on one side."""
    client = app.test_client()
    rng = random.Random(seed)
    now = now_ms()
    wire, truth = generate(rng, now, days=range(4, 7))
    deliver(client, rng, wire)
    starts = sorted(s["started"] for s in truth.values())
    first, last = starts[0] - HOUR_MS, starts[-1] + HOUR_MS
    edges = [rng.randrange(first, last) for _ in range(10)] + starts[:3] + [starts[-1]]
    ranges = [tuple(sorted(rng.sample(edges, 2))) for _ in range(10)]
    ranges += [(starts[5], starts[5] + rng.randrange(1, HOUR_MS)), (starts[7], None),
               (None, starts[9]), (starts[3] - 1, starts[3] + 1)]
    for low, high in ranges:
        chosen = [s for s in truth.values()
                  if (low is None or s["started"] >= low) and (high is None or s["started"] < high)]
        params = {**({"from": iso(low, 330)} if low is not None else {}),
                  **({"to": iso(high, -480)} if high is not None else {})}
        assert get_analytics(client, **params) == brute_force(chosen, now), (low, high)
        ids = sorted((sid for sid, s in truth.items() if s in chosen),
                     key=lambda sid: -truth[sid]["started"])
        assert list_sessions(client, limit=200, **params) == (ids, len(ids)), (low, high)
        name = truth[ids[0]]["agent"] if ids else AGENTS[0]
        mine = [s for s in chosen if s["agent"] == name]
        assert get_analytics(client, agent_name=name, **params) == brute_force(mine, now)
