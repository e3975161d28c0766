"""Contract tests for GET /sessions and GET /sessions/<id>.

The contract is /work/shared/spec/agentlens-rest-api.txt plus DECISIONS.md
(DECISIONS wins). Expected values are written out by hand from the spec and
from the data each test sends.
"""
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from helpers import assert_error

SESSION_KEYS = {
    "session_id", "agent_name", "started_at", "ended_at", "metadata",
    "total_tokens_in", "total_tokens_out", "total_cost_usd", "cost_complete", "status",
}


def post_events(client, events):
    response = client.post("/events", json={"events": events})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body == {"status": "ok", "processed": len(events)}, body
    return body


def list_sessions(client, query=""):
    response = client.get("/sessions" + query)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"sessions", "total"}, body
    for item in body["sessions"]:
        assert set(item) == SESSION_KEYS, item
    return body


def minute(i):
    """The i-th minute after 2026-02-14T10:00:00Z, as sent and as returned."""
    hour, mins = divmod(i, 60)
    return f"2026-02-14T{10 + hour:02d}:{mins:02d}:00Z", f"2026-02-14T{10 + hour:02d}:{mins:02d}:00.000Z"


def starts(n, prefix="s"):
    """n session_start events, session i started i minutes after 10:00."""
    return [{"event_type": "session_start", "session_id": f"{prefix}{i:03d}",
             "agent_name": f"agent-{i}", "metadata": {"i": i}, "timestamp": minute(i)[0]}
            for i in range(n)]


def listed(i, prefix="s", **changes):
    """The list item for session i of ``starts``."""
    item = {
        "session_id": f"{prefix}{i:03d}", "agent_name": f"agent-{i}",
        "started_at": minute(i)[1], "ended_at": None, "metadata": {"i": i},
        "total_tokens_in": 0, "total_tokens_out": 0, "total_cost_usd": 0.0,
        "cost_complete": True, "status": "active",
    }
    item.update(changes)
    return item


# ---------------------------------------------------------------------------
# listing


def test_empty_store_lists_nothing(client):
    assert list_sessions(client) == {"sessions": [], "total": 0}


def test_default_limit_is_50_newest_first(client):
    post_events(client, starts(60))
    body = list_sessions(client)
    assert body["total"] == 60
    assert body["sessions"] == [listed(i) for i in range(59, 9, -1)]


def test_limit_and_offset(client):
    post_events(client, starts(60))
    assert list_sessions(client, "?limit=10&offset=0") == {
        "sessions": [listed(i) for i in range(59, 49, -1)], "total": 60}
    assert list_sessions(client, "?limit=10&offset=55") == {
        "sessions": [listed(i) for i in range(4, -1, -1)], "total": 60}
    assert list_sessions(client, "?offset=20") == {
        "sessions": [listed(i) for i in range(39, -1, -1)], "total": 60}
    assert list_sessions(client, "?limit=3&offset=60") == {"sessions": [], "total": 60}
    assert list_sessions(client, "?offset=1000") == {"sessions": [], "total": 60}
    assert list_sessions(client, "?limit=1") == {"sessions": [listed(59)], "total": 60}


def test_limit_is_capped_at_200(client):
    post_events(client, starts(205))
    for limit in ("200", "201", "1000", "999999"):
        body = list_sessions(client, f"?limit={limit}")
        assert body["total"] == 205
        assert body["sessions"] == [listed(i) for i in range(204, 4, -1)], limit
    assert list_sessions(client, "?limit=500&offset=200") == {
        "sessions": [listed(i) for i in range(4, -1, -1)], "total": 205}


@pytest.fixture
def mixed(client):
    """Nine sessions: m000..m008; 0,3,6 stay active, 1,4,7 complete, 2,5,8 end in error."""
    events = starts(9, prefix="m")
    for i in range(9):
        if i % 3 == 1:
            events.append({"event_type": "session_end", "session_id": f"m{i:03d}",
                           "timestamp": minute(i + 30)[0]})
        if i % 3 == 2:
            events.append({"event_type": "session_end", "session_id": f"m{i:03d}",
                           "status": "error", "timestamp": minute(i + 30)[0]})
    post_events(client, events)
    return client


def ended(i, status):
    return listed(i, prefix="m", status=status, ended_at=minute(i + 30)[1])


def test_status_filter(mixed):
    assert list_sessions(mixed, "?status=active") == {
        "sessions": [listed(i, prefix="m") for i in (6, 3, 0)], "total": 3}
    assert list_sessions(mixed, "?status=completed") == {
        "sessions": [ended(i, "completed") for i in (7, 4, 1)], "total": 3}
    assert list_sessions(mixed, "?status=error") == {
        "sessions": [ended(i, "error") for i in (8, 5, 2)], "total": 3}
    assert list_sessions(mixed)["total"] == 9


def test_total_counts_all_matches_of_the_filter_not_the_page(mixed):
    assert list_sessions(mixed, "?status=error&limit=1") == {
        "sessions": [ended(8, "error")], "total": 3}
    assert list_sessions(mixed, "?status=completed&limit=2&offset=1") == {
        "sessions": [ended(4, "completed"), ended(1, "completed")], "total": 3}
    assert list_sessions(mixed, "?status=active&offset=3") == {"sessions": [], "total": 3}
    assert list_sessions(mixed, "?limit=2&offset=7")["total"] == 9


def test_status_filter_with_no_match(client):
    post_events(client, starts(2))
    assert list_sessions(client, "?status=error") == {"sessions": [], "total": 0}


def test_newest_started_at_first_compares_instants_not_text(client):
    # 12:00+02:00 is 10:00Z, earlier than 11:00Z though it sorts later as text;
    # a regular event before its session_start makes started_at earlier.
    events = [
        {"event_type": "session_start", "session_id": "a", "agent_name": "a",
         "timestamp": "2026-02-14T12:00:00+02:00"},
        {"event_type": "session_start", "session_id": "b", "agent_name": "b",
         "timestamp": "2026-02-14T11:00:00Z"},
        {"event_type": "session_start", "session_id": "c", "agent_name": "c",
         "timestamp": "2026-02-14T11:30:00Z"},
        {"event_type": "llm_call", "session_id": "c", "event_id": "c-early",
         "timestamp": "2026-02-14T04:30:00-05:00"},  # 09:30Z
    ]
    post_events(client, events)
    body = list_sessions(client)
    assert [(s["session_id"], s["started_at"]) for s in body["sessions"]] == [
        ("b", "2026-02-14T11:00:00.000Z"),
        ("a", "2026-02-14T10:00:00.000Z"),
        ("c", "2026-02-14T09:30:00.000Z"),
    ]
    assert body["total"] == 3


def test_list_item_matches_the_reference_shape_and_detail(client):
    events = [
        {"event_type": "session_start", "session_id": "abc123", "agent_name": "research-agent",
         "metadata": {"version": "2.0"}, "timestamp": "2026-02-14T10:30:00Z"},
        {"event_type": "llm_call", "session_id": "abc123", "event_id": "a1", "model": "gpt-4",
         "tokens_in": 1000, "tokens_out": 300, "timestamp": "2026-02-14T10:30:20Z"},
        {"event_type": "llm_call", "session_id": "abc123", "event_id": "a2", "model": "gpt-4",
         "tokens_in": 200, "tokens_out": 50, "timestamp": "2026-02-14T10:30:40Z"},
        {"event_type": "session_end", "session_id": "abc123", "timestamp": "2026-02-14T10:31:00Z"},
    ]
    post_events(client, events)
    item = {
        "session_id": "abc123", "agent_name": "research-agent",
        "started_at": "2026-02-14T10:30:00.000Z", "ended_at": "2026-02-14T10:31:00.000Z",
        "metadata": {"version": "2.0"}, "total_tokens_in": 1200, "total_tokens_out": 350,
        # gpt-4 at $30 / $60 per million tokens: 1200 x 30 + 350 x 60 = 57,000 µ$
        "total_cost_usd": 0.057, "cost_complete": True,
        "status": "completed",
    }
    assert list_sessions(client) == {"sessions": [item], "total": 1}
    detail = client.get("/sessions/abc123").get_json()
    assert set(detail) == SESSION_KEYS | {"events"}
    assert {k: v for k, v in detail.items() if k != "events"} == item
    assert [e["event_id"] for e in detail["events"]] == [
        "abc123:session_start", "a1", "a2", "abc123:session_end"]


@pytest.mark.parametrize("query, parameter", [
    ("limit=abc", "limit"), ("limit=-1", "limit"), ("limit=1.5", "limit"), ("limit=", "limit"),
    ("limit=1e2", "limit"), ("limit=ten", "limit"), ("limit=-200", "limit"),
    ("offset=x", "offset"), ("offset=-1", "offset"), ("offset=2.0", "offset"), ("offset=", "offset"),
    ("status=done", "status"), ("status=COMPLETED", "status"), ("status=", "status"),
    ("status=running", "status"), ("limit=10&offset=-5", "offset"),
])
def test_bad_query_parameters_are_400_naming_the_parameter(client, query, parameter):
    post_events(client, starts(1))
    error = assert_error(client.get(f"/sessions?{query}"), 400)
    assert parameter in error


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(min_value=0, max_value=300), offset=st.integers(min_value=0, max_value=30))
def test_any_valid_page_is_the_right_slice(client, limit, offset):
    if list_sessions(client)["total"] == 0:
        post_events(client, starts(25))
    # newest first: s024, s023, ..., s000
    newest_first = [listed(i) for i in range(24, -1, -1)]
    body = list_sessions(client, f"?limit={limit}&offset={offset}")
    assert body == {"sessions": newest_first[offset:offset + min(limit, 200)], "total": 25}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.text(max_size=6), offset=st.text(max_size=6), status=st.text(max_size=10))
def test_junk_query_parameters_never_give_5xx(client, limit, offset, status):
    query = f"?limit={quote(limit, safe='')}&offset={quote(offset, safe='')}&status={quote(status, safe='')}"
    response = client.get("/sessions" + query)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    assert response.mimetype == "application/json"


# ---------------------------------------------------------------------------
# one session


def test_unknown_session_is_404_session_not_found(client):
    response = client.get("/sessions/does-not-exist")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json() == {"error": "Session not found"}


def test_unknown_session_is_404_even_when_others_exist(client):
    post_events(client, starts(3))
    assert client.get("/sessions/s999").get_json() == {"error": "Session not found"}
    assert client.get("/sessions/S000").get_json() == {"error": "Session not found"}


@pytest.mark.parametrize("session_id", ["with space", "sess\u00e3o-\u4e2d", "a:b;c", "100%", "x?y#z"])
def test_session_ids_with_special_characters_read_back(client, session_id):
    post_events(client, [{"event_type": "session_start", "session_id": session_id,
                          "agent_name": "a", "timestamp": "2026-02-14T10:00:00Z"}])
    response = client.get("/sessions/" + quote(session_id, safe=""))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["session_id"] == session_id
    assert [e["event_id"] for e in body["events"]] == [f"{session_id}:session_start"]


def test_events_oldest_first_ties_in_arrival_order(client):
    same = "2026-02-14T10:00:05Z"
    post_events(client, [
        {"event_type": "session_start", "session_id": "t", "agent_name": "a",
         "timestamp": "2026-02-14T10:00:00Z"},
        {"event_type": "step", "session_id": "t", "event_id": "late", "timestamp": "2026-02-14T10:00:09Z"},
        {"event_type": "step", "session_id": "t", "event_id": "tie-1", "timestamp": same},
        {"event_type": "step", "session_id": "t", "event_id": "tie-2", "timestamp": same},
    ])
    post_events(client, [
        {"event_type": "step", "session_id": "t", "event_id": "tie-3", "timestamp": "2026-02-14T11:00:05+01:00"},
        {"event_type": "step", "session_id": "t", "event_id": "first", "timestamp": "2026-02-14T10:00:01Z"},
    ])
    events = client.get("/sessions/t").get_json()["events"]
    assert [(e["event_id"], e["timestamp"]) for e in events] == [
        ("t:session_start", "2026-02-14T10:00:00.000Z"),
        ("first", "2026-02-14T10:00:01.000Z"),
        ("tie-1", "2026-02-14T10:00:05.000Z"),
        ("tie-2", "2026-02-14T10:00:05.000Z"),
        ("tie-3", "2026-02-14T10:00:05.000Z"),
        ("late", "2026-02-14T10:00:09.000Z"),
    ]
