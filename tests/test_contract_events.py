"""Contract tests for POST /events (and what GET /sessions/<id> then shows).

The contract is /work/shared/spec/agentlens-rest-api.txt plus DECISIONS.md
(DECISIONS wins). Every expected value below is written out by hand from the
spec and from the data the test sends; nothing is computed by the code under test.
"""
import itertools
import json
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from helpers import assert_error

# ---------------------------------------------------------------------------
# helpers

SESSION_KEYS = {
    "session_id", "agent_name", "started_at", "ended_at", "metadata",
    "total_tokens_in", "total_tokens_out", "total_cost_usd", "cost_complete", "status",
}
# The event fields of the reference's "Event Fields" table (timestamp included).
EVENT_KEYS = (
    "event_id", "session_id", "event_type", "timestamp", "model", "input_data",
    "output_data", "tokens_in", "tokens_out", "tool_call", "decision_trace", "duration_ms",
)

# The reference's curl example for POST /events, verbatim.
CURL_EXAMPLE_BODY = """{
    "events": [
      {
        "event_type": "session_start",
        "session_id": "abc123",
        "agent_name": "my-agent",
        "metadata": {"version": "1.0"},
        "timestamp": "2026-02-14T10:30:00Z"
      },
      {
        "event_type": "llm_call",
        "session_id": "abc123",
        "event_id": "evt001",
        "model": "gpt-4",
        "input_data": {"prompt": "Hello"},
        "output_data": {"response": "Hi"},
        "tokens_in": 5,
        "tokens_out": 3,
        "duration_ms": 150.0,
        "decision_trace": {
          "reasoning": "Simple greeting"
        }
      }
    ]
  }"""


def post(client, body, **kwargs):
    """POST /events with a JSON body (a Python value) or raw text/bytes."""
    if isinstance(body, (str, bytes)):
        return client.post("/events", data=body, content_type="application/json", **kwargs)
    return client.post("/events", json=body, **kwargs)


def post_events(client, events, **kwargs):
    return post(client, {"events": events}, **kwargs)


def assert_ok(response, processed, duplicates=None):
    """200 and exactly {"status": "ok", "processed": N[, "duplicates": n]}."""
    assert response.status_code == 200, response.get_data(as_text=True)
    expected = {"status": "ok", "processed": processed}
    if duplicates:
        expected["duplicates"] = duplicates
    assert response.get_json() == expected


def check_rejected(rejected, expected):
    """``expected`` is [(index, field)]: each error reads "<field>: <problem>"."""
    assert isinstance(rejected, list)
    assert [r["index"] for r in rejected] == [index for index, _ in expected], rejected
    for entry, (index, field) in zip(rejected, expected):
        assert set(entry) == {"index", "error"}, entry
        assert isinstance(entry["error"], str)
        prefix = f"{field}: "
        assert entry["error"].startswith(prefix), (field, entry["error"])
        assert entry["error"][len(prefix):].strip(), entry["error"]


def assert_partial(response, processed, rejected_fields):
    """200 {"status": "ok", "processed": N, "rejected": [...]} naming each field."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"status", "processed", "rejected"}, body
    assert body["status"] == "ok"
    assert body["processed"] == processed
    check_rejected(body["rejected"], rejected_fields)


def assert_all_rejected(response, rejected_fields):
    """400 {"error": "...", "rejected": [...]} when every event is refused."""
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "rejected"}, body
    assert isinstance(body["error"], str) and body["error"].strip()
    check_rejected(body["rejected"], rejected_fields)


def get_session(client, session_id):
    response = client.get(f"/sessions/{session_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == SESSION_KEYS | {"events"}, body
    return body


def event_view(event):
    """The reference's event fields of a returned event (all must be present)."""
    missing = [key for key in EVENT_KEYS if key not in event]
    assert not missing, (missing, event)
    return {key: event[key] for key in EVENT_KEYS}


def ev(event_id, session_id, event_type, timestamp, **fields):
    """An expected returned event: unspecified fields are null."""
    expected = {key: None for key in EVENT_KEYS}
    expected.update(event_id=event_id, session_id=session_id, event_type=event_type,
                    timestamp=timestamp, **fields)
    return expected


def session_view(body):
    """A GET /sessions/<id> body with its events reduced to the reference's fields."""
    return {**body, "events": [event_view(e) for e in body["events"]]}


def parse_returned_time(text):
    """A returned timestamp must be UTC ISO 8601 with milliseconds: YYYY-MM-DDTHH:MM:SS.mmmZ."""
    assert isinstance(text, str) and len(text) == 24 and text.endswith("Z"), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def now_floor_ms():
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def start(session_id, timestamp="2026-02-14T10:00:00Z", agent_name="agent", **fields):
    return {"event_type": "session_start", "session_id": session_id,
            "agent_name": agent_name, "timestamp": timestamp, **fields}


def llm(session_id, event_id, timestamp, tokens_in=None, tokens_out=None, **fields):
    event = {"event_type": "llm_call", "session_id": session_id, "event_id": event_id,
             "timestamp": timestamp, **fields}
    if tokens_in is not None:
        event["tokens_in"] = tokens_in
    if tokens_out is not None:
        event["tokens_out"] = tokens_out
    return event


# ---------------------------------------------------------------------------
# the reference's own example


def test_curl_example_is_accepted_and_reads_back(client):
    before = now_floor_ms()
    response = client.post("/events", data=CURL_EXAMPLE_BODY,
                           headers={"Content-Type": "application/json"})
    after = datetime.now(timezone.utc)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok", "processed": 2}

    body = get_session(client, "abc123")
    events = body.pop("events")
    assert body == {
        "session_id": "abc123",
        "agent_name": "my-agent",
        "started_at": "2026-02-14T10:30:00.000Z",
        "ended_at": None,
        "metadata": {"version": "1.0"},
        "total_tokens_in": 5,
        "total_tokens_out": 3,
        # gpt-4 at $30 / $60 per million tokens: 5 x 30 + 3 x 60 = 330 µ$
        "total_cost_usd": 0.00033,
        "cost_complete": True,
        "status": "active",
    }
    assert len(events) == 2
    # The llm_call carries no timestamp: it gets the server's time of receipt.
    llm_time = parse_returned_time(events[1]["timestamp"])
    assert before <= llm_time <= after
    assert [event_view(e) for e in events] == [
        ev("abc123:session_start", "abc123", "session_start", "2026-02-14T10:30:00.000Z"),
        ev("evt001", "abc123", "llm_call", events[1]["timestamp"],
           model="gpt-4", input_data={"prompt": "Hello"}, output_data={"response": "Hi"},
           tokens_in=5, tokens_out=3, duration_ms=150.0,
           decision_trace={"reasoning": "Simple greeting"}),
    ]
    # JSON fields come back as objects, never as strings.
    assert isinstance(events[1]["input_data"], dict)
    assert isinstance(events[1]["decision_trace"], dict)

    listing = client.get("/sessions")
    assert listing.status_code == 200
    assert listing.get_json() == {"sessions": [body], "total": 1}


def test_curl_example_retried_is_counted_once(client):
    assert_ok(post(client, CURL_EXAMPLE_BODY), 2)
    first = get_session(client, "abc123")
    # Both events are valid (processed 2); both were already stored (duplicates 2).
    assert_ok(post(client, CURL_EXAMPLE_BODY), 2, duplicates=2)
    again = get_session(client, "abc123")
    assert again == first
    assert (again["total_tokens_in"], again["total_tokens_out"]) == (5, 3)
    assert len(again["events"]) == 2
    assert client.get("/sessions").get_json()["total"] == 1


# ---------------------------------------------------------------------------
# defaults


def test_empty_event_gets_every_default(client):
    before = now_floor_ms()
    assert_ok(post_events(client, [{}]), 1)
    after = datetime.now(timezone.utc)

    body = get_session(client, "unknown")
    assert body["session_id"] == "unknown"
    assert body["status"] == "active"
    assert body["ended_at"] is None
    assert len(body["events"]) == 1
    event = body["events"][0]
    uuid.UUID(event["event_id"])  # an auto-generated UUID
    assert before <= parse_returned_time(event["timestamp"]) <= after
    assert event_view(event) == ev(event["event_id"], "unknown", "generic", event["timestamp"])
    assert body["started_at"] == event["timestamp"]


def test_generated_event_ids_are_distinct_and_not_duplicates(client):
    events = [{"session_id": "s", "timestamp": "2026-02-14T10:00:00Z"},
              {"session_id": "s", "timestamp": "2026-02-14T10:00:00Z"}]
    assert_ok(post_events(client, events), 2)
    body = get_session(client, "s")
    ids = [e["event_id"] for e in body["events"]]
    assert len(ids) == 2 and ids[0] != ids[1]
    for event_id in ids:
        uuid.UUID(event_id)
    assert [e["event_type"] for e in body["events"]] == ["generic", "generic"]


def test_null_optional_fields_are_treated_as_absent(client):
    before = now_floor_ms()
    nulls = {key: None for key in (
        "event_type", "session_id", "event_id", "timestamp", "model", "input_data",
        "output_data", "tokens_in", "tokens_out", "tool_call", "decision_trace", "duration_ms",
        "metadata", "status", "total_tokens_in", "total_tokens_out")}
    assert_ok(post_events(client, [nulls]), 1)
    after = datetime.now(timezone.utc)
    body = get_session(client, "unknown")
    event = body["events"][0]
    uuid.UUID(event["event_id"])
    assert before <= parse_returned_time(event["timestamp"]) <= after
    assert event_view(event) == ev(event["event_id"], "unknown", "generic", event["timestamp"])
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (0, 0)


def test_null_status_on_session_end_means_completed(client):
    events = [start("s", agent_name="a"),
              {"event_type": "session_end", "session_id": "s", "status": None,
               "total_tokens_in": None, "timestamp": "2026-02-14T10:05:00Z"}]
    assert_ok(post_events(client, events), 2)
    body = get_session(client, "s")
    assert body["status"] == "completed"
    assert body["ended_at"] == "2026-02-14T10:05:00.000Z"


# ---------------------------------------------------------------------------
# timestamps


@pytest.mark.parametrize("sent, stored", [
    ("2026-02-14T10:30:00Z", "2026-02-14T10:30:00.000Z"),
    ("2026-02-14T10:30:00+00:00", "2026-02-14T10:30:00.000Z"),
    ("2026-02-14T12:30:00+02:00", "2026-02-14T10:30:00.000Z"),
    ("2026-02-14T05:30:00-05:00", "2026-02-14T10:30:00.000Z"),
    ("2026-02-14T16:00:00+05:30", "2026-02-14T10:30:00.000Z"),
    ("2026-02-13T23:30:00-11:00", "2026-02-14T10:30:00.000Z"),
    ("2026-02-15T00:30:00+14:00", "2026-02-14T10:30:00.000Z"),
    ("2026-02-14T10:30:00.5Z", "2026-02-14T10:30:00.500Z"),
    ("2026-02-14T10:30:00.123Z", "2026-02-14T10:30:00.123Z"),
    ("2026-02-14T10:30:00.123456+00:00", "2026-02-14T10:30:00.123Z"),
    ("2026-02-14T11:30:00.250+01:00", "2026-02-14T10:30:00.250Z"),
    ("2026-01-01T00:59:59.999+01:00", "2025-12-31T23:59:59.999Z"),
])
def test_timestamps_are_normalised_to_utc_with_milliseconds(client, sent, stored):
    assert_ok(post_events(client, [start("s", timestamp=sent, agent_name="a")]), 1)
    body = get_session(client, "s")
    assert body["started_at"] == stored
    assert [e["timestamp"] for e in body["events"]] == [stored]


@st.composite
def offset_timestamps(draw):
    """(text sent, UTC text expected), worked out with plain datetime arithmetic."""
    utc = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 12, 31)))
    utc = utc.replace(microsecond=utc.microsecond // 1000 * 1000)
    minutes = draw(st.integers(min_value=-12 * 60, max_value=14 * 60))
    offset = timedelta(minutes=minutes)
    local = utc + offset
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    suffix = draw(st.sampled_from(["offset", "Z"])) if minutes == 0 else "offset"
    zone = "Z" if suffix == "Z" else f"{sign}{hh:02d}:{mm:02d}"
    millis = draw(st.booleans())
    fraction = f".{local.microsecond // 1000:03d}" if millis or local.microsecond else ""
    sent = f"{local:%Y-%m-%dT%H:%M:%S}{fraction}{zone}"
    expected = f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    return sent, expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(offset_timestamps(), min_size=1, max_size=5))
def test_any_offset_is_normalised(make_app, pairs):
    client = make_app().test_client()
    events = [{"event_id": f"e{i}", "session_id": "s", "timestamp": sent}
              for i, (sent, _) in enumerate(pairs)]
    assert_ok(post_events(client, events), len(events))
    body = get_session(client, "s")
    returned = {e["event_id"]: e["timestamp"] for e in body["events"]}
    assert returned == {f"e{i}": expected for i, (_, expected) in enumerate(pairs)}
    assert body["started_at"] == min(expected for _, expected in pairs)
    # oldest first
    assert [e["timestamp"] for e in body["events"]] == sorted(returned.values())


def test_valid_timestamp_before_1970_is_accepted(client):
    # "Accept ISO 8601 with any offset (and Z)": only an unparseable timestamp refuses an event.
    events = [{"session_id": "old", "event_id": "moon", "timestamp": "1969-07-20T21:17:40+01:00"}]
    assert_ok(post_events(client, events), 1)
    assert get_session(client, "old")["events"][0]["timestamp"] == "1969-07-20T20:17:40.000Z"


@st.composite
def extreme_timestamps(draw):
    """Any valid ISO 8601 text, year 0001 to 9999, offsets up to +-14:00, and its UTC (or None)."""
    local = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
    local = local.replace(microsecond=local.microsecond // 1000 * 1000)
    minutes = draw(st.integers(min_value=-14 * 60, max_value=14 * 60))
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    sent = f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond // 1000:03d}{sign}{hh:02d}:{mm:02d}"
    try:
        utc = local - timedelta(minutes=minutes)
        expected = f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    except OverflowError:
        expected = None  # not representable as a UTC date
    return sent, expected


_extreme_ids = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair=extreme_timestamps())
@example(pair=("9999-12-31T23:59:59.000-14:00", None))
@example(pair=("9999-12-31T20:00:00.000-05:00", None))
@example(pair=("0001-01-01T00:00:00.000+14:00", None))
def test_extreme_timestamps_never_give_5xx(client, pair):
    sent, expected = pair
    sid = f"x{next(_extreme_ids)}"
    response = post_events(client, [{"session_id": sid, "event_id": sid, "timestamp": sent}])
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    if response.status_code == 400:
        assert_all_rejected(response, [(0, "timestamp")])
        return
    assert_ok(response, 1)
    read = client.get(f"/sessions/{sid}")
    assert read.status_code == 200, (sent, read.get_data(as_text=True))
    assert expected is not None, sent
    assert [e["timestamp"] for e in read.get_json()["events"]] == [expected]
    listing = client.get("/sessions")
    assert listing.status_code == 200, (sent, listing.get_data(as_text=True))


@pytest.mark.parametrize("bad", [
    "yesterday", "", "2026-13-01T10:00:00Z", "2026-02-30T10:00:00Z",
    "2026-02-14T25:00:00Z", "14/02/2026 10:30", "2026-02-14T10:30:00+99:00", 1771065000,
    True, {"at": "2026-02-14T10:30:00Z"}, ["2026-02-14T10:30:00Z"],
])
def test_unparseable_timestamp_refuses_that_event(client, bad):
    events = [llm("s", "good", "2026-02-14T10:30:00Z", 1, 1),
              llm("s", "bad", bad, 100, 100)]
    assert_partial(post_events(client, events), 1, [(1, "timestamp")])
    body = get_session(client, "s")
    assert [e["event_id"] for e in body["events"]] == ["good"]
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (1, 1)


# ---------------------------------------------------------------------------
# partial acceptance, whole-batch errors, caps


def test_partial_acceptance_reports_each_refused_event(client):
    events = [
        llm("s", "e0", "2026-02-14T10:00:00Z", 1, 2),
        llm("s", "e1", "2026-02-14T10:00:01Z", -1, 2),
        llm("s", "e2", "2026-02-14T10:00:02Z", 3, 4),
        llm("s", "e3", "2026-02-14T10:00:03Z", 1, 1, duration_ms="fast"),
        {"event_type": "session_start", "session_id": "s", "timestamp": "2026-02-14T09:00:00Z"},
    ]
    assert_partial(post_events(client, events), 2,
                   [(1, "tokens_in"), (3, "duration_ms"), (4, "agent_name")])
    body = get_session(client, "s")
    assert [e["event_id"] for e in body["events"]] == ["e0", "e2"]
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (4, 6)
    assert body["started_at"] == "2026-02-14T10:00:00.000Z"


def test_every_event_refused_is_400_with_rejected(client):
    events = [llm("s", "e0", "not a time"), llm("s", "e1", "2026-02-14T10:00:00Z", tokens_in="5")]
    assert_all_rejected(post_events(client, events), [(0, "timestamp"), (1, "tokens_in")])
    assert client.get("/sessions").get_json() == {"sessions": [], "total": 0}
    assert_error(client.get("/sessions/s"), 404)


@pytest.mark.parametrize("raw", [
    "not json", "{", "{'events': []}", '{"events": [}', "", "   ", "NaN",
])
def test_body_not_json_is_400(client, raw):
    assert_error(post(client, raw), 400)
    assert client.get("/sessions").get_json()["total"] == 0


@pytest.mark.parametrize("body", [
    [], [{"session_id": "s"}], {}, {"event": [{}]}, {"events": None}, {"events": {}},
    {"events": "x"}, {"events": 3}, {"events": {"0": {}}}, "events", 7, None,
])
def test_no_events_array_is_400(client, body):
    response = post(client, json.dumps(body))
    assert_error(response, 400)
    assert client.get("/sessions").get_json()["total"] == 0


@pytest.mark.parametrize("junk", [1, "x", None, [], [{}], True])
def test_an_event_that_is_not_an_object_is_refused(client, junk):
    response = post_events(client, [{"session_id": "s", "timestamp": "2026-02-14T10:00:00Z"}, junk])
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["processed"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert isinstance(body["rejected"][0]["error"], str) and body["rejected"][0]["error"]


def test_batch_over_max_batch_is_400_naming_the_cap(make_app):
    client = make_app(MAX_BATCH=5).test_client()
    six = [{"session_id": "s", "event_id": f"e{i}"} for i in range(6)]
    error = assert_error(post_events(client, six), 400)
    assert "5" in error
    assert client.get("/sessions").get_json()["total"] == 0
    assert_ok(post_events(client, six[:5]), 5)


def test_default_max_batch_is_1000(client):
    events = [{"session_id": "s", "event_id": f"e{i}", "timestamp": "2026-02-14T10:00:00Z"}
              for i in range(1001)]
    error = assert_error(post_events(client, events), 400)
    assert "1000" in error
    assert_ok(post_events(client, events[:1000]), 1000)
    assert len(get_session(client, "s")["events"]) == 1000


def test_body_over_max_content_length_is_413_json(make_app):
    client = make_app(MAX_CONTENT_LENGTH=2000).test_client()
    small = json.dumps({"events": [{"session_id": "s", "model": "m" * 100}]})
    assert len(small) < 2000
    assert_ok(post(client, small), 1)
    big = json.dumps({"events": [{"session_id": "t", "model": "m" * 2100}]})
    assert len(big) > 2000
    assert_error(post(client, big), 413)
    assert_error(client.get("/sessions/t"), 404)


def test_default_body_cap_is_10_mib(client):
    filler = "x" * (10 * 1024 * 1024)
    big = json.dumps({"events": [{"session_id": "t"}], "padding": filler})
    assert len(big) > 10 * 1024 * 1024
    assert_error(post(client, big), 413)
    assert client.get("/sessions").get_json()["total"] == 0


@pytest.mark.parametrize("field, value", [
    ("model", "m" * 101),
    ("model", "\u00e9" * 51),  # 51 characters, 102 bytes in UTF-8
    ("event_type", "t" * 101),
    ("event_id", "i" * 101),
    ("session_id", "s" * 101),
    ("input_data", {"prompt": "p" * 200}),
    ("output_data", {"response": "r" * 200}),
    ("decision_trace", {"reasoning": "r" * 200}),
    ("tool_call", {"name": "search", "input": "q" * 200}),
    ("agent_name", "a" * 101),
    ("metadata", {"note": "n" * 200}),
])
def test_field_over_max_field_bytes_refuses_that_event(make_app, field, value):
    client = make_app(MAX_FIELD_BYTES=100).test_client()
    ok = {"session_id": "s", "event_id": "ok", "model": "m" * 100,
          "timestamp": "2026-02-14T10:00:00Z"}
    too_big = {"session_id": "s", "event_id": "big", "timestamp": "2026-02-14T10:00:01Z",
               "tokens_in": 9}
    too_big[field] = value
    assert_partial(post_events(client, [ok, too_big]), 1, [(1, field)])
    body = get_session(client, "s")
    assert [event_view(e) for e in body["events"]] == [
        ev("ok", "s", "generic", "2026-02-14T10:00:00.000Z", model="m" * 100)]
    assert body["total_tokens_in"] == 0


def test_default_field_cap_is_1_mib(client):
    limit = 1024 * 1024
    events = [{"session_id": "s", "event_id": "at-cap", "parent_id": "p" * limit},
              {"session_id": "s", "event_id": "over", "parent_id": "p" * (limit + 1)}]
    assert_partial(post_events(client, events), 1, [(1, "parent_id")])
    body = get_session(client, "s")
    assert [e["event_id"] for e in body["events"]] == ["at-cap"]
    assert body["events"][0]["parent_id"] == "p" * limit


# ---------------------------------------------------------------------------
# types


@pytest.mark.parametrize("field", ["tokens_in", "tokens_out"])
@pytest.mark.parametrize("bad", [-1, -100, 1.5, 0.1, True, False, "5", [5], {"n": 5}])
def test_bad_token_counts_are_refused(client, field, bad):
    good = llm("s", "good", "2026-02-14T10:00:00Z", 2, 3)
    wrong = llm("s", "wrong", "2026-02-14T10:00:01Z", 10, 10)
    wrong[field] = bad
    assert_partial(post_events(client, [good, wrong]), 1, [(1, field)])
    body = get_session(client, "s")
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (2, 3)
    assert [e["event_id"] for e in body["events"]] == ["good"]


def test_large_token_counts_are_accepted(client):
    # "tokens_in/out are non-negative integers": no upper bound is given.
    events = [{"event_type": "session_start", "session_id": "big", "agent_name": "a",
               "timestamp": "2026-02-14T10:00:00Z"},
              llm("big", "e1", "2026-02-14T10:00:01Z", 2**31, 3_000_000_000),
              {"event_type": "session_end", "session_id": "big", "timestamp": "2026-02-14T10:00:02Z",
               "total_tokens_in": 10_000_000_000, "total_tokens_out": 2**31}]
    assert_ok(post_events(client, events), 3)
    body = get_session(client, "big")
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (10_000_000_000, 2**31)
    assert (body["events"][1]["tokens_in"], body["events"][1]["tokens_out"]) == (2**31, 3_000_000_000)


def test_zero_tokens_are_accepted(client):
    assert_ok(post_events(client, [llm("s", "e", "2026-02-14T10:00:00Z", 0, 0)]), 1)
    body = get_session(client, "s")
    assert event_view(body["events"][0]) == ev(
        "e", "s", "llm_call", "2026-02-14T10:00:00.000Z", tokens_in=0, tokens_out=0)


@pytest.mark.parametrize("bad", [-1, -0.5, "150", "fast", True, False, [1], {"ms": 1}])
def test_bad_duration_is_refused(client, bad):
    events = [llm("s", "good", "2026-02-14T10:00:00Z", duration_ms=1.5),
              llm("s", "wrong", "2026-02-14T10:00:01Z", duration_ms=bad)]
    assert_partial(post_events(client, events), 1, [(1, "duration_ms")])
    assert [e["event_id"] for e in get_session(client, "s")["events"]] == ["good"]


@pytest.mark.parametrize("duration", [0, 0.0, 150, 150.0, 0.25, 86400000])
def test_valid_durations_are_stored(client, duration):
    assert_ok(post_events(client, [llm("s", "e", "2026-02-14T10:00:00Z", duration_ms=duration)]), 1)
    assert get_session(client, "s")["events"][0]["duration_ms"] == duration


@pytest.mark.parametrize("tool_call", [
    {"name": "web_search", "input": {"query": "agentlens"}, "output": {"hits": 3}},
    {"tool_name": "calculator", "tool_input": {"expr": "2+2"}, "tool_output": {"value": 4}},
    {"name": "shell", "input": "ls -la", "output": ["a", "b"], "success": False},
])
def test_tool_call_in_both_shapes_is_stored_and_returned_as_object(client, tool_call):
    events = [{"event_type": "tool_call", "session_id": "s", "event_id": "t1",
               "timestamp": "2026-02-14T10:00:00Z", "tool_call": tool_call, "duration_ms": 12}]
    assert_ok(post_events(client, events), 1)
    body = get_session(client, "s")
    assert [event_view(e) for e in body["events"]] == [
        ev("t1", "s", "tool_call", "2026-02-14T10:00:00.000Z", tool_call=tool_call, duration_ms=12)]


def test_json_fields_round_trip_as_json_values(client):
    nested = {"a": [1, 2.5, None, True, {"b": "\u00e9\u4e2d\U0001f600"}], "empty": {}, "list": []}
    events = [llm("s", "e", "2026-02-14T10:00:00Z", input_data=nested,
                  output_data={"text": "line\nbreak \"quoted\""},
                  decision_trace={"steps": ["think", "act"], "confidence": 0.9})]
    assert_ok(post_events(client, events), 1)
    event = get_session(client, "s")["events"][0]
    assert event["input_data"] == nested
    assert event["output_data"] == {"text": "line\nbreak \"quoted\""}
    assert event["decision_trace"] == {"steps": ["think", "act"], "confidence": 0.9}


# ---------------------------------------------------------------------------
# lifecycle


def test_session_end_without_status_completes_the_session(client):
    events = [start("s", "2026-02-14T10:00:00Z", "bot", metadata={"v": 1}),
              llm("s", "e1", "2026-02-14T10:00:10Z", 5, 3),
              llm("s", "e2", "2026-02-14T10:00:20Z", 7, 2),
              {"event_type": "session_end", "session_id": "s", "timestamp": "2026-02-14T10:01:00Z"}]
    assert_ok(post_events(client, events), 4)
    assert session_view(get_session(client, "s")) == {
        "session_id": "s", "agent_name": "bot",
        "started_at": "2026-02-14T10:00:00.000Z", "ended_at": "2026-02-14T10:01:00.000Z",
        "metadata": {"v": 1}, "total_tokens_in": 12, "total_tokens_out": 5,
        "total_cost_usd": 0.0, "cost_complete": False,  # tokens without a model: no price
        "status": "completed",
        "events": [
            ev("s:session_start", "s", "session_start", "2026-02-14T10:00:00.000Z"),
            ev("e1", "s", "llm_call", "2026-02-14T10:00:10.000Z", tokens_in=5, tokens_out=3),
            ev("e2", "s", "llm_call", "2026-02-14T10:00:20.000Z", tokens_in=7, tokens_out=2),
            ev("s:session_end", "s", "session_end", "2026-02-14T10:01:00.000Z"),
        ],
    }


def test_session_end_ended_at_is_when_it_ended(client):
    """The reference SDK's end_session sends ``ended_at`` (isoformat, +00:00) and no
    timestamp; it wins over a timestamp sent beside it."""
    events = [start("s", "2026-02-14T10:00:00Z"),
              {"event_type": "session_end", "session_id": "s",
               "ended_at": "2026-02-14T10:00:45.250000+00:00", "total_tokens_in": 0,
               "total_tokens_out": 0, "status": "completed"},
              start("t", "2026-02-14T10:00:00Z"),
              {"event_type": "session_end", "session_id": "t", "timestamp": "2026-02-14T10:09:00Z",
               "ended_at": "2026-02-14T12:01:00+02:00"}]
    assert_ok(post_events(client, events), 4)
    ended = get_session(client, "s")
    assert (ended["status"], ended["ended_at"]) == ("completed", "2026-02-14T10:00:45.250Z")
    assert ended["events"][-1]["timestamp"] == "2026-02-14T10:00:45.250Z"
    assert get_session(client, "t")["ended_at"] == "2026-02-14T10:01:00.000Z"
    explained = client.get("/sessions/s/explain").get_json()["explanation"]
    assert explained.startswith("## Agent Session: agent\n**Duration:** 45.3s\n")


@pytest.mark.parametrize("ended_at", ["yesterday", 1771063200000, {"at": 1}])
def test_session_end_with_a_bad_ended_at_is_refused_alone(client, ended_at):
    events = [start("s"), {"event_type": "session_end", "session_id": "s", "ended_at": ended_at}]
    assert_partial(post_events(client, events), 1, [(1, "ended_at")])
    assert get_session(client, "s")["ended_at"] is None


@pytest.mark.parametrize("metadata", ["hello", [1, 2], 7, True])
def test_metadata_of_an_event_is_any_json_value_but_a_sessions_is_an_object(client, metadata):
    events = [start("s", metadata={"v": 1}),
              llm("s", "e", "2026-02-14T10:00:01Z", metadata=metadata),
              start("s", "2026-02-14T09:00:00Z", metadata=metadata)]
    assert_partial(post_events(client, events), 2, [(2, "metadata")])
    body = get_session(client, "s")
    assert body["metadata"] == {"v": 1}
    assert [e["metadata"] for e in body["events"]] == [{"v": 1}, metadata]


def test_ended_at_of_other_events_is_not_read(client):
    events = [{"event_type": "llm_call", "session_id": "s", "event_id": "e",
               "timestamp": "2026-02-14T10:00:00Z", "ended_at": "not a time"}]
    assert_ok(post_events(client, events), 1)


@pytest.mark.parametrize("status", ["completed", "error"])
def test_session_end_status_is_kept(client, status):
    events = [start("s"), {"event_type": "session_end", "session_id": "s", "status": status,
                           "timestamp": "2026-02-14T10:01:00Z"}]
    assert_ok(post_events(client, events), 2)
    body = get_session(client, "s")
    assert body["status"] == status
    assert body["ended_at"] == "2026-02-14T10:01:00.000Z"


@pytest.mark.parametrize("status", ["done", "COMPLETED", "failed", "", 1, True, {"s": "error"}])
def test_unknown_session_end_status_refuses_that_event(client, status):
    events = [start("s"), {"event_type": "session_end", "session_id": "s", "status": status,
                           "timestamp": "2026-02-14T10:01:00Z"}]
    assert_partial(post_events(client, events), 1, [(1, "status")])
    body = get_session(client, "s")
    assert body["status"] == "active"
    assert body["ended_at"] is None
    assert [e["event_type"] for e in body["events"]] == ["session_start"]


def test_only_event_with_unknown_status_is_400(client):
    response = post_events(client, [{"event_type": "session_end", "session_id": "s",
                                     "status": "finished"}])
    assert_all_rejected(response, [(0, "status")])
    assert_error(client.get("/sessions/s"), 404)


def test_session_end_stated_totals_win_over_sums(client):
    events = [start("s"), llm("s", "e1", "2026-02-14T10:00:10Z", 5, 3),
              llm("s", "e2", "2026-02-14T10:00:20Z", 7, 2),
              {"event_type": "session_end", "session_id": "s", "timestamp": "2026-02-14T10:01:00Z",
               "total_tokens_in": 100, "total_tokens_out": 50}]
    assert_ok(post_events(client, events), 4)
    body = get_session(client, "s")
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (100, 50)
    # a late event does not move the stated final counts
    assert_ok(post_events(client, [llm("s", "e3", "2026-02-14T10:00:30Z", 1000, 1000)]), 1)
    body = get_session(client, "s")
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (100, 50)
    assert [e["event_id"] for e in body["events"]] == [
        "s:session_start", "e1", "e2", "e3", "s:session_end"]


def test_session_end_stated_totals_win_even_when_it_arrives_first(client):
    end = {"event_type": "session_end", "session_id": "s", "timestamp": "2026-02-14T10:01:00Z",
           "total_tokens_in": 0, "total_tokens_out": 1}
    assert_ok(post_events(client, [end]), 1)
    assert_ok(post_events(client, [llm("s", "e1", "2026-02-14T10:00:10Z", 5, 3), start("s")]), 2)
    body = get_session(client, "s")
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (0, 1)
    assert body["status"] == "completed"


@pytest.mark.parametrize("agent_name", [None, "", 5, ["a"]])
def test_session_start_without_agent_name_is_refused(client, agent_name):
    event = {"event_type": "session_start", "session_id": "s", "timestamp": "2026-02-14T10:00:00Z"}
    if agent_name is not None:
        event["agent_name"] = agent_name
    good = llm("other", "e", "2026-02-14T10:00:00Z")
    assert_partial(post_events(client, [good, event]), 1, [(1, "agent_name")])
    assert_error(client.get("/sessions/s"), 404)


def test_session_start_without_agent_name_alone_is_400(client):
    response = post_events(client, [{"event_type": "session_start", "session_id": "s"}])
    assert_all_rejected(response, [(0, "agent_name")])


def test_regular_event_auto_creates_its_session(client):
    assert_ok(post_events(client, [llm("auto", "e1", "2026-02-14T10:00:00Z", 4, 1)]), 1)
    body = get_session(client, "auto")
    assert body["session_id"] == "auto"
    assert body["status"] == "active"
    assert body["started_at"] == "2026-02-14T10:00:00.000Z"
    assert body["ended_at"] is None
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (4, 1)


# ---------------------------------------------------------------------------
# idempotency


def test_event_sent_twice_in_one_batch_is_stored_once(client):
    event = llm("s", "same", "2026-02-14T10:00:00Z", 5, 3)
    assert_ok(post_events(client, [start("s"), event, dict(event)]), 3, duplicates=1)
    body = get_session(client, "s")
    assert [e["event_id"] for e in body["events"]] == ["s:session_start", "same"]
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (5, 3)


def test_retried_batch_changes_nothing(client):
    batch = [start("s", metadata={"k": "v"}), llm("s", "e1", "2026-02-14T10:00:10Z", 5, 3),
             llm("s", "e2", "2026-02-14T10:00:20Z", 7, 2),
             {"event_type": "session_end", "session_id": "s", "timestamp": "2026-02-14T10:01:00Z"}]
    assert_ok(post_events(client, batch), 4)
    first = get_session(client, "s")
    assert (first["total_tokens_in"], first["total_tokens_out"]) == (12, 5)
    assert_ok(post_events(client, batch), 4, duplicates=4)
    assert get_session(client, "s") == first
    # a partially new retry: only the new event moves the totals
    assert_ok(post_events(client, batch[1:3] + [llm("s", "e3", "2026-02-14T10:00:30Z", 1, 1)]),
              3, duplicates=2)
    body = get_session(client, "s")
    assert (body["total_tokens_in"], body["total_tokens_out"]) == (13, 6)
    assert client.get("/sessions").get_json()["total"] == 1


# ---------------------------------------------------------------------------
# order tolerance


def scenario(stated_totals):
    """A session: start at 10:00:00, three llm_calls, end at 10:05:00."""
    events = [
        start("o", "2026-02-14T10:00:00Z", "orderly", metadata={"run": 7}),
        llm("o", "o1", "2026-02-14T10:01:00Z", 10, 1, model="gpt-4"),
        llm("o", "o2", "2026-02-14T10:02:00Z", 20, 2, model="gpt-4"),
        llm("o", "o3", "2026-02-14T10:03:00Z", 30, 3, model="gpt-4"),
        {"event_type": "session_end", "session_id": "o", "timestamp": "2026-02-14T10:05:00Z"},
    ]
    if stated_totals:
        events[-1].update(total_tokens_in=1000, total_tokens_out=100)
    return events


def scenario_expected(stated_totals):
    tokens = (1000, 100) if stated_totals else (60, 6)
    return {
        "session_id": "o", "agent_name": "orderly",
        "started_at": "2026-02-14T10:00:00.000Z", "ended_at": "2026-02-14T10:05:00.000Z",
        "metadata": {"run": 7}, "total_tokens_in": tokens[0], "total_tokens_out": tokens[1],
        # the events' cost, whatever the stated totals: gpt-4 at $30 / $60 per million,
        # 60 x 30 + 6 x 60 = 2160 µ$
        "total_cost_usd": 0.00216, "cost_complete": True,
        "status": "completed",
        "events": [
            ev("o:session_start", "o", "session_start", "2026-02-14T10:00:00.000Z"),
            ev("o1", "o", "llm_call", "2026-02-14T10:01:00.000Z", model="gpt-4",
               tokens_in=10, tokens_out=1),
            ev("o2", "o", "llm_call", "2026-02-14T10:02:00.000Z", model="gpt-4",
               tokens_in=20, tokens_out=2),
            ev("o3", "o", "llm_call", "2026-02-14T10:03:00.000Z", model="gpt-4",
               tokens_in=30, tokens_out=3),
            ev("o:session_end", "o", "session_end", "2026-02-14T10:05:00.000Z"),
        ],
    }


@pytest.mark.parametrize("stated_totals", [False, True])
def test_session_end_before_events_and_events_before_start(make_app, stated_totals):
    in_order = make_app().test_client()
    assert_ok(post_events(in_order, scenario(stated_totals)), 5)
    reference = get_session(in_order, "o")
    assert session_view(reference) == scenario_expected(stated_totals)

    s, e1, e2, e3, end = scenario(stated_totals)
    shuffled = make_app().test_client()
    assert_ok(post_events(shuffled, [end]), 1)           # session_end first
    assert_ok(post_events(shuffled, [e3, e1]), 2)        # events before session_start
    assert_ok(post_events(shuffled, [s]), 1)             # then the start
    assert_ok(post_events(shuffled, [e2]), 1)            # a late event still counts
    assert get_session(shuffled, "o") == reference
    assert shuffled.get("/sessions").get_json() == in_order.get("/sessions").get_json()


def test_event_earlier_than_session_start_moves_started_at(client):
    events = [llm("x", "early", "2026-02-14T09:59:00Z", 1, 1), start("x", "2026-02-14T10:00:00Z", "a")]
    assert_ok(post_events(client, events), 2)
    body = get_session(client, "x")
    assert body["started_at"] == "2026-02-14T09:59:00.000Z"
    assert body["agent_name"] == "a"
    assert [e["event_id"] for e in body["events"]] == ["early", "x:session_start"]


@st.composite
def delivery_plans(draw):
    """A session of random content, and a random delivery: permuted, split, some batches retried."""
    n = draw(st.integers(min_value=0, max_value=6))
    tokens = draw(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)),
                           min_size=n, max_size=n))
    # distinct seconds after the start; some events may fall after session_end's time
    seconds = draw(st.lists(st.integers(1, 600), min_size=n, max_size=n, unique=True))
    end_second = draw(st.integers(1, 601).filter(lambda x: x not in seconds))
    stated = draw(st.none() | st.tuples(st.integers(0, 9999), st.integers(0, 9999)))
    status = draw(st.sampled_from([None, "completed", "error"]))
    events = [start("h", "2026-03-01T12:00:00+02:00", "hypo", metadata={"seed": n})]
    for i, ((t_in, t_out), sec) in enumerate(zip(tokens, seconds)):
        events.append(llm("h", f"h{i}", f"2026-03-01T10:{sec // 60:02d}:{sec % 60:02d}Z",
                          t_in, t_out))
    end = {"event_type": "session_end", "session_id": "h",
           "timestamp": f"2026-03-01T10:{end_second // 60:02d}:{end_second % 60:02d}Z"}
    if status is not None:
        end["status"] = status
    if stated is not None:
        end.update(total_tokens_in=stated[0], total_tokens_out=stated[1])
    events.append(end)
    order = draw(st.permutations(events))
    cuts = sorted(draw(st.sets(st.integers(1, len(order) - 1), max_size=len(order) - 1)))
    batches = [list(order[a:b]) for a, b in zip([0] + cuts, cuts + [len(order)])]
    retried = draw(st.lists(st.sampled_from(batches), max_size=2))
    expected_tokens = stated if stated is not None else (
        sum(t for t, _ in tokens), sum(t for _, t in tokens))
    expected = {
        "session_id": "h", "agent_name": "hypo",
        "started_at": "2026-03-01T10:00:00.000Z",
        "ended_at": f"2026-03-01T10:{end_second // 60:02d}:{end_second % 60:02d}.000Z",
        "metadata": {"seed": n},
        "total_tokens_in": expected_tokens[0], "total_tokens_out": expected_tokens[1],
        # no model, so no price: incomplete as soon as an event has tokens
        "total_cost_usd": 0.0, "cost_complete": not any(t_in or t_out for t_in, t_out in tokens),
        "status": status or "completed",
    }
    return events, batches + retried, expected


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=delivery_plans())
def test_any_delivery_order_gives_the_in_order_session(make_app, plan):
    events, batches, expected = plan
    in_order = make_app().test_client()
    assert_ok(post_events(in_order, events), len(events))
    reference = get_session(in_order, "h")
    assert {k: v for k, v in reference.items() if k != "events"} == expected
    # events oldest first; timestamps are distinct
    times = [e["timestamp"] for e in reference["events"]]
    assert times == sorted(times) and len(set(times)) == len(times) == len(events)

    shuffled = make_app().test_client()
    for batch in batches:
        response = post_events(shuffled, batch)
        assert response.status_code == 200
        assert response.get_json()["processed"] == len(batch)
    assert get_session(shuffled, "h") == reference


# ---------------------------------------------------------------------------
# junk never gives a 5xx

json_leaves = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
               | st.sampled_from(["", "session_start", "session_end", "2026-02-14T10:00:00Z",
                                  "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                                  "1970-01-01T00:00:00+01:00", "completed", "error"]))
json_values = st.recursive(json_leaves, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=5), children, max_size=3),
                           max_leaves=8)
FIELDS = ["event_type", "session_id", "event_id", "timestamp", "model", "input_data",
          "output_data", "tokens_in", "tokens_out", "tool_call", "decision_trace", "duration_ms",
          "agent_name", "metadata", "status", "total_tokens_in", "total_tokens_out"]
_junk_ids = itertools.count()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base_type=st.sampled_from(["llm_call", "session_start", "session_end"]),
       junk=st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=3))
def test_junk_field_values_never_give_5xx(make_app, base_type, junk):
    # A fresh database per example: junk may repeat an event_id of an earlier example.
    client = make_app().test_client()
    n = next(_junk_ids)
    event = {"event_type": base_type, "session_id": f"j{n}", "event_id": f"j{n}",
             "agent_name": "junk", "timestamp": "2026-02-14T10:00:00Z", **junk}
    response = post_events(client, [event])
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    if response.status_code == 200:
        assert body == {"status": "ok", "processed": 1}
        sid = event["session_id"] if isinstance(event["session_id"], str) else "unknown"
        read = client.get("/sessions/" + quote(sid, safe=""))
        assert read.status_code in (200, 404), read.get_data(as_text=True)
        assert read.mimetype == "application/json"
    else:
        assert set(body) == {"error", "rejected"}, body
        assert [r["index"] for r in body["rejected"]] == [0]
        error = body["rejected"][0]["error"]
        named = error.split(":", 1)[0]
        assert named in FIELDS, error
    listing = client.get("/sessions")
    assert listing.status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values)
def test_junk_bodies_never_give_5xx(client, body):
    response = post(client, json.dumps({"events": body} if isinstance(body, list) else body))
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert client.get("/sessions").status_code == 200
