"""Contract tests for the Agnost wire format, in process with the Flask test client:
``POST /api/v1/capture-session`` and ``POST /api/v1/capture-event`` (v1 and v2 bodies).

The contract is ../shared/spec/agnost-rest-api.txt, agnost-capture-event-v1.txt and
agnost-capture-event-v2.txt, as amended by issue 5 (what the real SDKs send: lenient
types, unknown sessions created, non-UUID ids), DECISIONS.md, and the README's
"How the formats map onto sessions and events" table. The results are read back by
value through GET /sessions/<id>, /sessions/<id>/export, /analytics and
POST /sessions/compare.

Every expected value is written out by hand from what the test sends. Server time
is frozen at NOW, so the times the server supplies (capture-session, events without
a ``timestamp``, ``exported_at``, ``compared_at``, the analytics 90-day window) are
literals too. The real-SDK end-to-end tests are in test_sdk_agnost.py.
"""
import hashlib
import uuid

import pytest

from helpers import assert_error, freeze_server_clock, read_json, read_session, session

NOW = "2024-05-05T12:00:00.000Z"
NOW_MS = 1714910400000
ORG = "my-org"  # any X-Org-Id works in dev mode

# ---------------------------------------------------------------------------
# The documents' examples, verbatim.

# agnost-rest-api.txt, "Create Session", request body.
CAPTURE_SESSION_DOC = r"""{
  "session_id": "550e8400-e29b-41d4-a716-446655440000",
  "client_config": "claude-desktop",
  "connection_type": "",
  "ip": "",
  "tools": ["get_weather", "search_web", "calculate"],
  "user_data": {
    "userId": "user123",
    "email": "[email protected]",
    "role": "admin"
  }
}"""
DOC_SESSION = "550e8400-e29b-41d4-a716-446655440000"

# agnost-rest-api.txt, "Record Event", request body.
CAPTURE_EVENT_DOC = r"""{
  "session_id": "550e8400-e29b-41d4-a716-446655440000",
  "primitive_type": "tool",
  "primitive_name": "get_weather",
  "latency": 342,
  "success": true,
  "args": "{\"location\":\"San Francisco\",\"units\":\"celsius\"}",
  "result": "{\"temperature\":18,\"conditions\":\"partly cloudy\"}"
}"""

# agnost-capture-event-v1.txt, the curl example (sent with its header X-Org-Id: <api-key>).
CAPTURE_EVENT_V1_DOC = r"""{
  "session_id": "my-session-123",
  "primitive_name": "search_web",
  "primitive_type": "tool",
  "success": true,
  "latency": 342,
  "args": "{\"query\": \"latest AI news\"}",
  "result": "{\"results\": [{\"title\": \"...\"}]}",
  "checkpoints": [
    {
      "name": "cache_lookup",
      "timestamp": 5,
      "metadata": {
        "rows": "5"
      }
    }
  ],
  "metadata": {
    "trace_id": "abc123"
  }
}"""

# agnost-capture-event-v2.txt: the example value of every field that has one
# (success is optional and has none: it defaults to true).
CAPTURE_EVENT_V2_DOC = r"""{
  "event_id": "e8b1c52f-3a9d-4e7c-8f0b-2d6a91c4ef58",
  "session_id": "a3f9c182-7d4e-4b6a-9e21-c5d8f0b4e731",
  "primitive_name": "your-agent-name",
  "args": "your input in plain text or JSON-encoded string",
  "result": "your output in plain text or JSON-encoded string",
  "latency": 5200,
  "timestamp": 1714867201000,
  "parent_id": "4c7d2e8a-1b95-4f3d-a08e-7b3c9d12f5e6",
  "metadata": {"language": "hi-IN"}
}"""


# ---------------------------------------------------------------------------
# helpers


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Server time is NOW_MS wherever the server asks for it (every module that
    imported ``now_ms``). JWTs and rate limits keep real time."""
    patched = freeze_server_clock(monkeypatch, NOW_MS)
    assert "agentlens.timestamps" in patched and "agentlens.api.agnost" in patched


def post(client, path, body, org=ORG, headers=None):
    """POST a Python value as JSON, or raw text as it is, with X-Org-Id unless org is None."""
    sent = {} if org is None else {"X-Org-Id": org}
    sent.update(headers or {})
    if isinstance(body, (str, bytes)):
        return client.post(path, data=body, content_type="application/json", headers=sent)
    return client.post(path, json=body, headers=sent)


def capture_session(client, body, org=ORG, headers=None):
    return post(client, "/api/v1/capture-session", body, org, headers)


def capture_event(client, body, org=ORG, headers=None):
    return post(client, "/api/v1/capture-event", body, org, headers)


def assert_ok(response, expected):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json() == expected


def assert_event_response(response, event_id=None):
    """{"success": true, "event_id": ...}: the given id, or a generated UUID. Returns the id."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"success", "event_id"}, body
    assert body["success"] is True
    if event_id is None:
        assert str(uuid.UUID(body["event_id"])) == body["event_id"]
    else:
        assert body["event_id"] == event_id
    return body["event_id"]


def compare(client, session_a, session_b, headers=None):
    response = client.post("/sessions/compare", json={"session_a": session_a, "session_b": session_b},
                           headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def list_sessions(client, headers=None):
    return read_json(client, "/sessions", headers)


NOTHING_STORED = {"sessions": [], "total": 0}


class AnyLifecycleId:
    """Matches the id the server gives a session_start/session_end that an SDK
    format implies. Only POST /events' form is documented (DECISIONS:
    ``<session_id>:session_start``), so any non-empty text is accepted here; the
    retry tests show that it is deterministic (a retry stores nothing new)."""

    __hash__ = None

    def __eq__(self, other):
        return isinstance(other, str) and bool(other)

    def __repr__(self):
        return "<lifecycle event id>"


LIFECYCLE_ID = AnyLifecycleId()


def event(event_id, session_id, event_type, timestamp, **fields):
    """An event as GET /sessions/<id> returns it; unnamed fields are null."""
    result = dict.fromkeys(("parent_id", "trace_id", "model", "provider", "tokens_in",
                            "tokens_out",
                            "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
                            "cost_usd", "duration_ms", "input_data", "output_data", "tool_call",
                            "decision_trace", "metadata"))
    result.update(event_id=event_id, session_id=session_id, event_type=event_type,
                  timestamp=timestamp)
    result.update(fields)
    return result


def tool(name, args, result, success=True):
    return {"name": name, "input": args, "output": result, "success": success}


# ---------------------------------------------------------------------------
# the documents' examples


DOC_SESSION_METADATA = {
    "client_config": "claude-desktop",
    "connection_type": "",
    "ip": "",
    "tools": ["get_weather", "search_web", "calculate"],
    "user_data": {"userId": "user123", "email": "[email protected]", "role": "admin"},
    "org_id": ORG,
}
DOC_SESSION_START = event(LIFECYCLE_ID, DOC_SESSION, "session_start", NOW,
                          metadata=DOC_SESSION_METADATA)


def test_capture_session_doc_example(client):
    assert_ok(capture_session(client, CAPTURE_SESSION_DOC), {"session_id": DOC_SESSION})
    assert read_session(client, DOC_SESSION) == session(
        DOC_SESSION, "claude-desktop", NOW, DOC_SESSION_METADATA, [DOC_SESSION_START])


def test_capture_session_retried_changes_nothing(client):
    for _ in range(2):
        assert_ok(capture_session(client, CAPTURE_SESSION_DOC), {"session_id": DOC_SESSION})
    assert read_session(client, DOC_SESSION) == session(
        DOC_SESSION, "claude-desktop", NOW, DOC_SESSION_METADATA, [DOC_SESSION_START])
    assert list_sessions(client)["total"] == 1


def test_capture_event_doc_example(client):
    assert_ok(capture_session(client, CAPTURE_SESSION_DOC), {"session_id": DOC_SESSION})
    event_id = assert_event_response(capture_event(client, CAPTURE_EVENT_DOC))
    weather = event(event_id, DOC_SESSION, "tool_call", NOW, duration_ms=342,
                    tool_call=tool("get_weather", {"location": "San Francisco", "units": "celsius"},
                                   {"temperature": 18, "conditions": "partly cloudy"}))
    assert read_session(client, DOC_SESSION) == session(
        DOC_SESSION, "claude-desktop", NOW, DOC_SESSION_METADATA, [DOC_SESSION_START, weather])
    assert read_json(client, f"/sessions/{DOC_SESSION}/export") == {
        "exported_at": NOW,
        "session": {"session_id": DOC_SESSION, "agent_name": "claude-desktop", "status": "active",
                    "started_at": NOW, "ended_at": None, "total_tokens_in": 0,
                    "total_tokens_out": 0, "metadata": DOC_SESSION_METADATA},
        "events": [DOC_SESSION_START, weather],
        "summary": {"total_events": 1, "total_tokens": 0, "total_cost_usd": 0.0,
                    "cost_complete": True, "models_used": [],
                    "event_types": ["tool_call"], "total_duration_ms": 342},
    }


def test_capture_event_v1_doc_example_creates_its_session(client):
    """The v1 curl example, header included, for a session never created: 200, not 404."""
    event_id = assert_event_response(capture_event(client, CAPTURE_EVENT_V1_DOC, org="<api-key>"))
    search = event(
        event_id, "my-session-123", "tool_call", NOW, duration_ms=342,
        tool_call=tool("search_web", {"query": "latest AI news"}, {"results": [{"title": "..."}]}),
        metadata={"trace_id": "abc123",
                  "checkpoints": [{"name": "cache_lookup", "timestamp": 5,
                                   "metadata": {"rows": "5"}}]},
    )
    assert read_session(client, "my-session-123") == session(
        "my-session-123", "unknown", NOW, {"org_id": "<api-key>"}, [search])


def test_capture_event_v2_doc_example(client):
    """Client event id, parent id and a Unix-ms timestamp are stored as sent; no
    primitive_type with a parent is a (sub-)tool call."""
    assert_event_response(capture_event(client, CAPTURE_EVENT_V2_DOC),
                          "e8b1c52f-3a9d-4e7c-8f0b-2d6a91c4ef58")
    sid = "a3f9c182-7d4e-4b6a-9e21-c5d8f0b4e731"
    assert read_session(client, sid) == session(sid, "unknown", "2024-05-05T00:00:01.000Z",
                                                {"org_id": ORG}, [
        event("e8b1c52f-3a9d-4e7c-8f0b-2d6a91c4ef58", sid, "tool_call", "2024-05-05T00:00:01.000Z",
              parent_id="4c7d2e8a-1b95-4f3d-a08e-7b3c9d12f5e6", duration_ms=5200,
              tool_call=tool("your-agent-name", "your input in plain text or JSON-encoded string",
                             "your output in plain text or JSON-encoded string"),
              metadata={"language": "hi-IN"}),
    ])


# ---------------------------------------------------------------------------
# a whole conversation, read back through every reading endpoint


CONVERSATION = [
    # an agent turn: no type, no parent; the agnost SDK JSON-encodes even plain text
    {"event_id": "turn-1", "session_id": "conv-123", "primitive_type": "", "primitive_name":
     "weather-agent", "args": "\"What is the weather?\"", "result": "\"Sunny, 18 degrees.\"",
     "latency": 1200, "timestamp": 1714867200000, "success": True},
    # a tool the turn called
    {"event_id": "tool-1", "session_id": "conv-123", "primitive_type": "tool", "primitive_name":
     "get_weather", "args": "{\"city\": \"Paris\"}", "result": "{\"temp\": 18}", "latency": 300,
     "timestamp": 1714867200100, "parent_id": "turn-1", "success": True},
    # a sub-tool (v2 chain): no type, parent is the tool; plain-text args, no result
    {"event_id": "tool-2", "session_id": "conv-123", "primitive_type": "", "primitive_name":
     "geocode", "args": "Paris", "result": "", "latency": 50, "timestamp": 1714867200200,
     "parent_id": "tool-1"},
    # a resource that failed
    {"event_id": "res-1", "session_id": "conv-123", "primitive_type": "resource",
     "primitive_name": "file://readme.txt", "args": "", "result": "\"not found\"", "latency": 5,
     "timestamp": 1714867200300, "success": False},
]
CONVERSATION_EVENTS = [
    event("turn-1", "conv-123", "agent_turn", "2024-05-05T00:00:00.000Z", duration_ms=1200,
          input_data={"prompt": "What is the weather?"},
          output_data={"response": "Sunny, 18 degrees."}),
    event("tool-1", "conv-123", "tool_call", "2024-05-05T00:00:00.100Z", parent_id="turn-1",
          duration_ms=300, tool_call=tool("get_weather", {"city": "Paris"}, {"temp": 18})),
    event("tool-2", "conv-123", "tool_call", "2024-05-05T00:00:00.200Z", parent_id="tool-1",
          duration_ms=50, tool_call=tool("geocode", "Paris", None)),
    event("res-1", "conv-123", "resource_error", "2024-05-05T00:00:00.300Z", duration_ms=5,
          input_data={"name": "file://readme.txt", "args": None},
          output_data={"result": "not found"}),
    event(LIFECYCLE_ID, "conv-123", "session_start", NOW,
          metadata={"client_config": "claude-desktop", "org_id": ORG}),
]
OTHER_CONVERSATION = {"event_id": "b-1", "session_id": "conv-456", "primitive_type": "tool",
                      "primitive_name": "get_weather", "args": "{}", "result": "{\"temp\": 20}",
                      "latency": 100, "timestamp": 1714867260000}


def send_conversations(client):
    assert_ok(capture_session(client, {"session_id": "conv-123", "client_config": "claude-desktop"}),
              {"session_id": "conv-123"})
    for body in CONVERSATION + [OTHER_CONVERSATION]:
        assert_event_response(capture_event(client, body), body["event_id"])


def test_conversation_reads_back_everywhere(client):
    send_conversations(client)
    assert read_session(client, "conv-123") == session(
        "conv-123", "weather-agent", "2024-05-05T00:00:00.000Z",
        {"client_config": "claude-desktop", "org_id": ORG}, CONVERSATION_EVENTS)
    assert read_session(client, "conv-456") == session(
        "conv-456", "unknown", "2024-05-05T00:01:00.000Z", {"org_id": ORG}, [
            event("b-1", "conv-456", "tool_call", "2024-05-05T00:01:00.000Z", duration_ms=100,
                  tool_call=tool("get_weather", {}, {"temp": 20}))])

    assert compare(client, "conv-123", "conv-456") == {
        "compared_at": NOW,
        "session_a": {
            "session_id": "conv-123", "agent_name": "weather-agent", "status": "active",
            "tokens_in": 0, "tokens_out": 0, "total_tokens": 0,
            "cost_usd": 0.0, "cost_complete": True,
            "event_count": 4, "error_count": 1,
            "total_processing_ms": 1555, "avg_event_duration_ms": 388.75,
            # not ended: the latest event (its session_start, at NOW) minus the start
            "session_duration_ms": 43200000,
            "models": {},
            "event_types": {"agent_turn": 1, "tool_call": 2, "resource_error": 1},
            "tools": {"get_weather": {"calls": 1, "total_duration": 300},
                      "geocode": {"calls": 1, "total_duration": 50}},
            "metadata": {"client_config": "claude-desktop", "org_id": ORG},
        },
        "session_b": {
            "session_id": "conv-456", "agent_name": "unknown", "status": "active",
            "tokens_in": 0, "tokens_out": 0, "total_tokens": 0,
            "cost_usd": 0.0, "cost_complete": True,
            "event_count": 1, "error_count": 0,
            "total_processing_ms": 100, "avg_event_duration_ms": 100,
            "session_duration_ms": 0,
            "models": {},
            "event_types": {"tool_call": 1},
            "tools": {"get_weather": {"calls": 1, "total_duration": 100}},
            "metadata": {"org_id": ORG},
        },
        "deltas": {
            "total_tokens": {"absolute": 0, "percent": 0},
            "tokens_in": {"absolute": 0, "percent": 0},
            "tokens_out": {"absolute": 0, "percent": 0},
            "event_count": {"absolute": -3, "percent": -75},
            "error_count": {"absolute": -1, "percent": -100},
            "total_processing_ms": {"absolute": -1455, "percent": -93.57},
            "avg_event_duration_ms": {"absolute": -288.75, "percent": -74.28},
            "cost_usd": {"absolute": 0, "percent": 0},
        },
        "shared": {"event_types": ["agent_turn", "tool_call", "resource_error"],
                   "tools": ["get_weather", "geocode"], "models": []},
    }

    assert read_json(client, "/analytics") == {
        "overview": {
            "total_sessions": 2, "active_sessions": 2, "completed_sessions": 0,
            "error_sessions": 0, "error_rate": 0, "total_events": 5, "total_tokens": 0,
            "total_tokens_in": 0, "total_tokens_out": 0, "total_cost_usd": 0,
            "avg_tokens_per_session": 0,
            "earliest_session": "2024-05-05T00:00:00.000Z",
            "latest_session": "2024-05-05T00:01:00.000Z",
        },
        "duration": {"avg_ms": 0, "min_ms": 0, "max_ms": 0},
        "top_agents": [
            {"agent_name": "unknown", "session_count": 1, "total_tokens": 0, "avg_tokens": 0,
             "total_cost_usd": 0},
            {"agent_name": "weather-agent", "session_count": 1, "total_tokens": 0, "avg_tokens": 0,
             "total_cost_usd": 0},
        ],
        "model_usage": [],
        "event_types": [{"event_type": "tool_call", "count": 3},
                        {"event_type": "agent_turn", "count": 1},
                        {"event_type": "resource_error", "count": 1}],
        "sessions_over_time": [{"day": "2024-05-05", "session_count": 2, "total_tokens": 0,
                                "cost_usd": 0}],
        "hourly_activity": [{"hour": 0, "event_count": 5}],
        "unpriced_models": [],
    }


def test_conversation_retried_changes_nothing(client):
    """v2 events carry their id: every retry is recognised, no figure moves."""
    send_conversations(client)
    first = [read_session(client, "conv-123"), read_session(client, "conv-456"),
             read_json(client, "/analytics"), compare(client, "conv-123", "conv-456"),
             read_json(client, "/sessions/conv-123/export")]
    send_conversations(client)
    for body in reversed(CONVERSATION):
        assert_event_response(capture_event(client, body), body["event_id"])
    assert [read_session(client, "conv-123"), read_session(client, "conv-456"),
            read_json(client, "/analytics"), compare(client, "conv-123", "conv-456"),
            read_json(client, "/sessions/conv-123/export")] == first
    assert first[0]["events"] == CONVERSATION_EVENTS


# ---------------------------------------------------------------------------
# field by field


ARGS, RESULT = "{\"path\": \"readme.txt\"}", "\"hello\""


@pytest.mark.parametrize("primitive_type, success, name, expected_type, fields, errors", [
    ("tool", True, "get_weather", "tool_call",
     {"tool_call": tool("get_weather", {"path": "readme.txt"}, "hello")}, 0),
    ("tool", False, "get_weather", "tool_call",
     {"tool_call": tool("get_weather", {"path": "readme.txt"}, "hello", success=False)}, 1),
    ("resource", True, "file://readme.txt", "resource",
     {"input_data": {"name": "file://readme.txt", "args": {"path": "readme.txt"}},
      "output_data": {"result": "hello"}}, 0),
    ("resource", False, "file://readme.txt", "resource_error",
     {"input_data": {"name": "file://readme.txt", "args": {"path": "readme.txt"}},
      "output_data": {"result": "hello"}}, 1),
    ("prompt", True, "code_review_template", "prompt",
     {"input_data": {"name": "code_review_template", "args": {"path": "readme.txt"}},
      "output_data": {"result": "hello"}}, 0),
    ("prompt", False, "code_review_template", "prompt_error",
     {"input_data": {"name": "code_review_template", "args": {"path": "readme.txt"}},
      "output_data": {"result": "hello"}}, 1),
    ("", True, "weather-agent", "agent_turn",
     {"input_data": {"prompt": {"path": "readme.txt"}}, "output_data": {"response": "hello"}}, 0),
    ("", False, "weather-agent", "agent_turn_error",
     {"input_data": {"prompt": {"path": "readme.txt"}}, "output_data": {"response": "hello"}}, 1),
    (None, True, "weather-agent", "agent_turn",
     {"input_data": {"prompt": {"path": "readme.txt"}}, "output_data": {"response": "hello"}}, 0),
])
def test_primitive_type_and_success_map_to_event_type(client, primitive_type, success, name,
                                                       expected_type, fields, errors):
    body = {"event_id": "e-1", "session_id": "s-1", "primitive_name": name, "args": ARGS,
            "result": RESULT, "latency": 10, "timestamp": 1714867200000, "success": success}
    if primitive_type is not None:
        body["primitive_type"] = primitive_type
    assert_event_response(capture_event(client, body), "e-1")
    # an agent turn names the session; nothing else does
    agent_name = name if primitive_type in ("", None) else "unknown"
    assert read_session(client, "s-1") == session(
        "s-1", agent_name, "2024-05-05T00:00:00.000Z", {"org_id": ORG},
        [event("e-1", "s-1", expected_type, "2024-05-05T00:00:00.000Z", duration_ms=10, **fields)])
    metrics = compare(client, "s-1", "s-1")["session_a"]
    assert (metrics["event_types"], metrics["error_count"]) == ({expected_type: 1}, errors)


@pytest.mark.parametrize("sent, stored", [
    ("{\"a\": 1}", {"a": 1}),
    ("[1, 2]", [1, 2]),
    ("42", 42),
    ("true", True),
    ("\"What is the weather?\"", "What is the weather?"),  # the agnost SDK encodes plain text
    ("\"{\\\"a\\\": 1}\"", "{\"a\": 1}"),  # decoded once, not twice
    ("plain text", "plain text"),  # not JSON: kept as text
    ("{not json", "{not json"),
    ("", None),  # what the SDKs send for no input or output
])
def test_args_and_result_are_json_decoded_once(client, sent, stored):
    body = {"event_id": "e-1", "session_id": "s-1", "primitive_type": "tool",
            "primitive_name": "t", "args": sent, "result": sent, "latency": 1,
            "timestamp": 1714867200000}
    assert_event_response(capture_event(client, body), "e-1")
    assert read_session(client, "s-1")["events"] == [
        event("e-1", "s-1", "tool_call", "2024-05-05T00:00:00.000Z", duration_ms=1,
              tool_call=tool("t", stored, stored))]


def test_agent_turn_with_empty_args_and_result_has_no_input_or_output(client):
    body = {"event_id": "e-1", "session_id": "s-1", "primitive_type": "", "primitive_name": "bot",
            "args": "", "result": "", "timestamp": 1714867200000}
    assert_event_response(capture_event(client, body), "e-1")
    assert read_session(client, "s-1")["events"] == [
        event("e-1", "s-1", "agent_turn", "2024-05-05T00:00:00.000Z")]


def test_omitted_args_result_latency_timestamp_and_success(client):
    """v1 with disableInput/disableOutput: no args, no result; no timestamp -> server
    time; no latency -> no duration; success defaults to true."""
    body = {"session_id": "s-1", "primitive_type": "tool", "primitive_name": "t"}
    event_id = assert_event_response(capture_event(client, body))
    assert read_session(client, "s-1")["events"] == [
        event(event_id, "s-1", "tool_call", NOW, tool_call=tool("t", None, None))]


def test_generated_event_ids_are_distinct(client):
    """v1 events carry no id: each delivery is a new event with a new UUID."""
    body = {"session_id": "s-1", "primitive_type": "tool", "primitive_name": "t", "latency": 1}
    ids = [assert_event_response(capture_event(client, body)) for _ in range(3)]
    assert len(set(ids)) == 3
    assert [e["event_id"] for e in read_session(client, "s-1")["events"]] == ids


def test_metadata_parent_id_is_the_parent(client):
    """The conversation SDK can only pass a parent as a metadata property."""
    body = {"event_id": "child", "session_id": "s-1", "primitive_type": "", "primitive_name": "t",
            "args": "x", "result": "y", "timestamp": 1714867200000,
            "metadata": {"parent_id": "turn-1", "lang": "en"}}
    assert_event_response(capture_event(client, body), "child")
    assert read_session(client, "s-1")["events"] == [
        event("child", "s-1", "tool_call", "2024-05-05T00:00:00.000Z", parent_id="turn-1",
              tool_call=tool("t", "x", "y"), metadata={"parent_id": "turn-1", "lang": "en"})]


def test_timestamp_is_unix_milliseconds_stored_as_utc(client):
    for event_id, ms in (("e-1", 1714867201000), ("e-2", 1714867201999), ("e-3", 0)):
        body = {"event_id": event_id, "session_id": "s-1", "primitive_type": "tool",
                "primitive_name": "t", "timestamp": ms}
        assert_event_response(capture_event(client, body), event_id)
    assert [(e["event_id"], e["timestamp"]) for e in read_session(client, "s-1")["events"]] == [
        ("e-3", "1970-01-01T00:00:00.000Z"), ("e-1", "2024-05-05T00:00:01.000Z"),
        ("e-2", "2024-05-05T00:00:01.999Z")]


# ---------------------------------------------------------------------------
# session metadata and the agent's name


def test_every_capture_session_field_goes_to_metadata(client):
    """What agnost-mcp sends: org_id in the body, user_data null, extra fields;
    without an X-Org-Id header the body's org_id is kept (dev mode)."""
    body = {"session_id": "mcp-1", "client_config": "vscode", "connection_type": "stdio",
            "ip": "127.0.0.1", "tools": ["a", "b"], "user_data": {"userId": "u1"},
            "org_id": "body-org", "sdk_version": "0.2.0", "extra": {"x": [1]}}
    assert_ok(capture_session(client, body, org=None), {"session_id": "mcp-1"})
    metadata = {"client_config": "vscode", "connection_type": "stdio", "ip": "127.0.0.1",
                "tools": ["a", "b"], "user_data": {"userId": "u1"}, "org_id": "body-org"}
    assert read_session(client, "mcp-1") == session("mcp-1", "vscode", NOW, metadata, [
        event(LIFECYCLE_ID, "mcp-1", "session_start", NOW, metadata=metadata)])


def test_null_user_data_is_absent(client):
    body = {"session_id": "mcp-1", "client_config": "vscode", "tools": [], "user_data": None}
    assert_ok(capture_session(client, body), {"session_id": "mcp-1"})
    assert read_session(client, "mcp-1")["metadata"] == {
        "client_config": "vscode", "tools": [], "org_id": ORG}


@pytest.mark.parametrize("order", [("session", "turn"), ("turn", "session")])
def test_agent_turn_names_the_session_whatever_the_order(client, order):
    """client_config names the agent only until an agent turn names it."""
    requests = {
        "session": lambda: capture_session(client, {"session_id": "s-1",
                                                    "client_config": "claude-desktop"}),
        "turn": lambda: capture_event(client, {
            "event_id": "turn-1", "session_id": "s-1", "primitive_name": "weather-agent",
            "args": "hi", "result": "hello", "timestamp": 1714867201000}),
    }
    for name in order:
        assert requests[name]().status_code == 200
    metadata = {"client_config": "claude-desktop", "org_id": ORG}
    assert read_session(client, "s-1") == session(
        "s-1", "weather-agent", "2024-05-05T00:00:01.000Z", metadata, [
            event("turn-1", "s-1", "agent_turn", "2024-05-05T00:00:01.000Z",
                  input_data={"prompt": "hi"}, output_data={"response": "hello"}),
            event(LIFECYCLE_ID, "s-1", "session_start", NOW, metadata=metadata)])


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_earliest_agent_turn_names_the_session_whatever_the_order(client, order):
    turns = [{"event_id": "t-early", "session_id": "s-1", "primitive_name": "first-agent",
              "timestamp": 1714867200000},
             {"event_id": "t-late", "session_id": "s-1", "primitive_name": "second-agent",
              "timestamp": 1714867260000}]
    for index in order:
        assert_event_response(capture_event(client, turns[index]), turns[index]["event_id"])
    assert read_session(client, "s-1")["agent_name"] == "first-agent"


def test_tool_calls_do_not_name_the_session(client):
    assert_ok(capture_session(client, {"session_id": "s-1", "client_config": "cursor"}),
              {"session_id": "s-1"})
    assert_event_response(capture_event(client, {"session_id": "s-1", "primitive_type": "tool",
                                                 "primitive_name": "get_weather"}))
    assert_event_response(capture_event(client, {"session_id": "s-1", "primitive_type": "resource",
                                                 "primitive_name": "db://users"}))
    assert read_session(client, "s-1")["agent_name"] == "cursor"


def test_agent_turn_with_empty_name_does_not_name_the_session(client):
    """README: agent_name is "unknown" until something names it; an empty
    primitive_name names nothing. Either refuse it (400 naming the field) or
    store it and leave the session unnamed -- never an agent called ""."""
    response = capture_event(client, {"event_id": "e-1", "session_id": "s-1", "primitive_type": "",
                                      "primitive_name": "", "args": "hi", "result": "hello"})
    if response.status_code == 400:
        assert "primitive_name" in assert_error(response, 400)
        assert list_sessions(client) == NOTHING_STORED
    else:
        assert_event_response(response, "e-1")
        assert read_session(client, "s-1")["agent_name"] == "unknown"


# ---------------------------------------------------------------------------
# leniency the real SDKs need (issue 5)


def test_event_for_unknown_non_uuid_session_creates_it(client):
    """agnost sends the caller's conversation id; capture-session may have failed."""
    body = {"session_id": "conversation #7: user@example.com", "primitive_type": "tool",
            "primitive_name": "t", "event_id": "e-1", "timestamp": 1714867200000}
    assert_event_response(capture_event(client, body), "e-1")
    assert read_session(client, "conversation #7: user@example.com") == session(
        "conversation #7: user@example.com", "unknown", "2024-05-05T00:00:00.000Z", {"org_id": ORG},
        [event("e-1", "conversation #7: user@example.com", "tool_call", "2024-05-05T00:00:00.000Z",
               tool_call=tool("t", None, None))])
    assert list_sessions(client)["total"] == 1


def test_session_id_with_a_slash_reads_back(client):
    """Any string is a session id (issue 5: the caller's conversation id), so one
    holding a "/" must be readable too (URL-encoded as %2F)."""
    body = {"event_id": "e-1", "session_id": "team/conv-7", "primitive_type": "tool",
            "primitive_name": "t", "timestamp": 1714867200000}
    assert_event_response(capture_event(client, body), "e-1")
    assert [s["session_id"] for s in list_sessions(client)["sessions"]] == ["team/conv-7"]
    assert read_session(client, "team/conv-7")["events"] == [
        event("e-1", "team/conv-7", "tool_call", "2024-05-05T00:00:00.000Z",
              tool_call=tool("t", None, None))]


def test_unknown_fields_are_ignored(client):
    body = {"event_id": "e-1", "session_id": "s-1", "primitive_type": "tool", "primitive_name": "t",
            "args": "{}", "result": "{}", "latency": 7, "timestamp": 1714867200000,
            "org_id": "body-org", "sdk": {"name": "agnost-mcp", "version": "0.2.0"},
            "client_timestamp": "2024-05-05T00:00:00Z", "tags": ["x"], "cost": None}
    assert_event_response(capture_event(client, body), "e-1")
    assert read_session(client, "s-1") == session(
        "s-1", "unknown", "2024-05-05T00:00:00.000Z", {"org_id": ORG},
        [event("e-1", "s-1", "tool_call", "2024-05-05T00:00:00.000Z", duration_ms=7,
               tool_call=tool("t", {}, {}))])


def test_same_v2_event_id_twice_is_stored_once(client):
    body = {"event_id": "e-1", "session_id": "s-1", "primitive_type": "tool",
            "primitive_name": "get_weather", "args": "{}", "result": "{}", "latency": 342,
            "timestamp": 1714867200000}
    assert_event_response(capture_event(client, body), "e-1")
    before = [read_session(client, "s-1"), read_json(client, "/analytics"),
              compare(client, "s-1", "s-1")]
    assert_event_response(capture_event(client, body), "e-1")
    # a resend that differs is still the same event: the first delivery stays
    assert_event_response(capture_event(client, {**body, "latency": 999, "success": False}), "e-1")
    assert [read_session(client, "s-1"), read_json(client, "/analytics"),
            compare(client, "s-1", "s-1")] == before
    assert before[0]["events"] == [
        event("e-1", "s-1", "tool_call", "2024-05-05T00:00:00.000Z", duration_ms=342,
              tool_call=tool("get_weather", {}, {}))]
    assert before[1]["overview"]["total_events"] == 1
    assert before[2]["session_a"]["tools"] == {"get_weather": {"calls": 1, "total_duration": 342}}


# ---------------------------------------------------------------------------
# refused bodies


GOOD_EVENT = {"session_id": "s-1", "primitive_type": "tool", "primitive_name": "t", "latency": 1,
              "success": True}


def without(body, key):
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize("body, named", [
    (without(GOOD_EVENT, "session_id"), "session_id"),
    ({**GOOD_EVENT, "session_id": ""}, "session_id"),
    (without(GOOD_EVENT, "primitive_name"), "primitive_name"),
    ({**GOOD_EVENT, "latency": "342"}, "latency"),
    ({**GOOD_EVENT, "latency": -1}, "latency"),
    ({**GOOD_EVENT, "latency": True}, "latency"),
    ({**GOOD_EVENT, "latency": 10**9 + 1}, "latency: more than 1000000000 ms"),
    ({**GOOD_EVENT, "primitive_name": "a\u0000b"}, "primitive_name: contains u+0000"),
    ({**GOOD_EVENT, "args": "x" * (2**20 + 1)}, "args"),
    ({**GOOD_EVENT, "result": "x" * (2**20 + 1)}, "result"),
    ({**GOOD_EVENT, "success": "yes"}, "success"),
    ({**GOOD_EVENT, "success": 1}, "success"),
    ({**GOOD_EVENT, "timestamp": "2024-05-05T00:00:01Z"}, "timestamp"),
    ({**GOOD_EVENT, "timestamp": 1714867201000.5}, "timestamp"),
    ({**GOOD_EVENT, "timestamp": True}, "timestamp"),
    ("{\"session_id\": \"s-1\", \"primitive_name\": ", "body"),  # not JSON
    ("not json at all", "body"),
    ("[{\"session_id\": \"s-1\", \"primitive_name\": \"t\"}]", "body"),  # a JSON array
    ("\"s-1\"", "body"),
])
def test_bad_capture_event_is_400_naming_the_field(client, body, named):
    message = assert_error(capture_event(client, body), 400)
    assert named in message.lower(), message
    assert list_sessions(client) == NOTHING_STORED


@pytest.mark.parametrize("body, named", [
    ({"client_config": "claude-desktop"}, "session_id"),
    ({"session_id": "", "client_config": "claude-desktop"}, "session_id"),
    ({"session_id": 5}, "session_id"),
    ({"session_id": "s-1", "tools": "get_weather"}, "tools"),
    ("{\"session_id\": ", "body"),
    ("[{\"session_id\": \"s-1\"}]", "body"),
])
def test_bad_capture_session_is_400_naming_the_field(client, body, named):
    message = assert_error(capture_session(client, body), 400)
    assert named in message.lower(), message
    assert list_sessions(client) == NOTHING_STORED


# ---------------------------------------------------------------------------
# X-Org-Id: the SDKs' credential


KEYS = ["k1", "k2"]
READ_KEY = {"X-API-Key": "k1"}
# What keyed mode keeps of an org id: "sha256:" + the first 16 hex digits of its SHA-256.
K1_LABEL = "sha256:" + "6ab9f1eb8f7d3388"
K2_LABEL = "sha256:" + "015f7e6bc5aeaf48"


def test_fingerprint_literals_are_the_documented_formula():
    assert K1_LABEL == "sha256:" + hashlib.sha256(b"k1").hexdigest()[:16]
    assert K2_LABEL == "sha256:" + hashlib.sha256(b"k2").hexdigest()[:16]


@pytest.fixture
def keyed(make_app):
    return make_app(API_KEYS=KEYS).test_client()


BAD_ORG_IDS = [None, "", "wrong", "K1", "k1,k2", "k", "k1k2"]


@pytest.mark.parametrize("org", BAD_ORG_IDS)
@pytest.mark.parametrize("path, body", [
    ("/api/v1/capture-session", {"session_id": "s-1", "client_config": "claude-desktop"}),
    ("/api/v1/capture-event", {"session_id": "s-1", "primitive_name": "t", "event_id": "e-1"}),
])
def test_keyed_mode_refuses_missing_or_wrong_org_id(keyed, path, body, org):
    assert_error(post(keyed, path, body, org=org), 401)
    assert list_sessions(keyed, READ_KEY) == NOTHING_STORED


@pytest.mark.parametrize("path", ["/api/v1/capture-session", "/api/v1/capture-event"])
def test_keyed_mode_checks_the_org_id_before_the_body(keyed, path):
    """Without a valid credential the answer is 401, whatever the body."""
    assert_error(post(keyed, path, "not json", org=None), 401)
    assert_error(post(keyed, path, "[]", org="wrong"), 401)


@pytest.mark.parametrize("org, label", [("k1", K1_LABEL), ("k2", K2_LABEL)])
def test_keyed_mode_accepts_each_key_and_keeps_only_its_fingerprint(keyed, org, label):
    # agnost-mcp also puts the org id (here: the key) in the body
    assert_ok(capture_session(keyed, {"session_id": "s-1", "client_config": "claude-desktop",
                                      "org_id": org}, org=org), {"session_id": "s-1"})
    assert_event_response(capture_event(keyed, {
        "event_id": "e-1", "session_id": "s-2", "primitive_type": "tool", "primitive_name": "t",
        "timestamp": 1714867200000, "org_id": org}, org=org), "e-1")
    metadata = {"client_config": "claude-desktop", "org_id": label}
    assert read_session(keyed, "s-1", READ_KEY) == session("s-1", "claude-desktop", NOW, metadata, [
        event(LIFECYCLE_ID, "s-1", "session_start", NOW, metadata=metadata)])
    assert read_session(keyed, "s-2", READ_KEY) == session(
        "s-2", "unknown", "2024-05-05T00:00:00.000Z", {"org_id": label},
        [event("e-1", "s-2", "tool_call", "2024-05-05T00:00:00.000Z",
               tool_call=tool("t", None, None))])


@pytest.mark.parametrize("org, kept", [
    ("anything", {"org_id": "anything"}),
    ("0b7a4a52-6c1e-4f0e-9d3a-1f2e3d4c5b6a", {"org_id": "0b7a4a52-6c1e-4f0e-9d3a-1f2e3d4c5b6a"}),
    (None, {}),
])
def test_dev_mode_accepts_any_or_no_org_id_and_keeps_it_as_sent(client, org, kept):
    assert_ok(capture_session(client, {"session_id": "s-1"}, org=org), {"session_id": "s-1"})
    assert_event_response(capture_event(client, {
        "event_id": "e-1", "session_id": "s-2", "primitive_type": "tool", "primitive_name": "t",
        "timestamp": 1714867200000}, org=org), "e-1")
    assert read_session(client, "s-1") == session("s-1", "unknown", NOW, kept, [
        event(LIFECYCLE_ID, "s-1", "session_start", NOW, metadata=kept)])
    assert read_session(client, "s-2")["metadata"] == kept


# ---------------------------------------------------------------------------
# one session, two formats


@pytest.mark.parametrize("order", [("native", "agnost"), ("agnost", "native")])
def test_native_session_start_and_capture_session_settle_the_same_whatever_the_order(client, order):
    """DECISIONS: the session has the agent_name and metadata of its session_start
    whatever the order; README: an explicit name (session_start) wins over a
    client default (client_config), and capture-session's fields go to metadata."""
    responses = {}
    requests = {
        "native": lambda: client.post("/events", json={"events": [{
            "event_type": "session_start", "session_id": "both", "agent_name": "native-agent",
            "metadata": {"version": "1.0"}, "timestamp": "2024-05-05T00:00:00Z"}]}),
        "agnost": lambda: capture_session(client, {"session_id": "both",
                                                   "client_config": "claude-desktop",
                                                   "tools": ["get_weather"]}),
    }
    for name in order:
        responses[name] = requests[name]()
    assert_ok(responses["native"], {"status": "ok", "processed": 1})
    assert_ok(responses["agnost"], {"session_id": "both"})
    stored = read_session(client, "both")
    assert (stored["agent_name"], stored["started_at"], stored["metadata"]) == (
        "native-agent", "2024-05-05T00:00:00.000Z",
        {"version": "1.0", "client_config": "claude-desktop", "tools": ["get_weather"],
         "org_id": ORG})
