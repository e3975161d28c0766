"""Contract tests for the AgentOps REST v2 wire format, in process with the Flask
test client: create_session / reauthorize_jwt (API key) and create_events /
update_events / update_session / create_agent (session JWT), under /v2/ and bare.

The contract is ../shared/spec/agentops-rest-api.txt, as amended by issue 5 (the
0.3.x SDK's shapes: ``session.session_id``, plural event types, ``params``/``returns``),
DECISIONS.md and the README's mapping table. Results are read back by value
through GET /sessions/<id>, /sessions/<id>/export, /analytics and
POST /sessions/compare. The last section sends one session through the native
/events, Agnost and AgentOps formats.

Every expected value is written out by hand from what the test sends. Server time
(``now_ms``) is frozen at NOW; JWTs keep real time. The real-SDK end-to-end tests
are in test_sdk_agentops.py.
"""
import time
import uuid

import jwt
import pytest

from helpers import assert_error, freeze_server_clock, read_json, read_session, session

NOW = "2024-03-14T12:10:00.000Z"
NOW_MS = 1710418200000
DAY_SECONDS = 24 * 3600
OTHER_SECRET = "another-secret-key-that-is-long-enough-0123456789"

# ---------------------------------------------------------------------------
# The document's examples, verbatim.

DOC_SESSION = "550e8400-e29b-41d4-a716-446655440000"

# "Initial Authentication": the bare route, fields at the top level.
CREATE_SESSION_BARE_DOC = """{
"id": "550e8400-e29b-41d4-a716-446655440000",
"init_timestamp": "2024-03-14T12:00:00Z"
}"""

# "Using JWT Tokens": the bare route.
CREATE_EVENTS_BARE_DOC = """{
"events": [{
"type": "llm",
"init_timestamp": "2024-03-14T12:01:00Z"
}]
}"""

# "Refreshing Tokens".
REAUTHORIZE_DOC = """{
"session_id": "550e8400-e29b-41d4-a716-446655440000"
}"""

# "Create Session".
CREATE_SESSION_DOC = """{
"session": {
"id": "550e8400-e29b-41d4-a716-446655440000",
"init_timestamp": "2024-03-14T12:00:00Z",
"tags": ["production", "customer-service"],
"host_env": {
"OS": {
"OS": "Windows",
"OS Release": "11",
"OS Version": "10.0.22631"
},
"CPU": {
"CPU Usage": "5.9%",
"Total cores": 12
},
"RAM": {
"Used": "14.49 GB",
"Total": "31.75 GB"
},
"SDK": {
"Python Version": "3.12.0",
"System Packages": {
"agentops": "0.3.17",
"openai": "1.2.3"
}
}
}
}
}"""
DOC_TAGS = ["production", "customer-service"]
DOC_HOST_ENV = {
    "OS": {"OS": "Windows", "OS Release": "11", "OS Version": "10.0.22631"},
    "CPU": {"CPU Usage": "5.9%", "Total cores": 12},
    "RAM": {"Used": "14.49 GB", "Total": "31.75 GB"},
    "SDK": {"Python Version": "3.12.0",
            "System Packages": {"agentops": "0.3.17", "openai": "1.2.3"}},
}

# "Update Session".
UPDATE_SESSION_DOC = """{
"session": {
"id": "550e8400-e29b-41d4-a716-446655440000",
"end_timestamp": "2024-03-14T12:05:00Z",
"end_state": "Success",
"end_state_reason": "Task successfully completed",
"tags": ["production", "updated-tag"]
}
}"""

# "Create Events".
CREATE_EVENTS_DOC = """{
"events": [
{
"type": "llm",
"init_timestamp": "2024-03-14T12:01:00Z",
"end_timestamp": "2024-03-14T12:01:02Z",
"model": "gpt-4",
"prompt": [
{"role": "system", "content": "You are a helpful assistant"},
{"role": "user", "content": "Analyze this data..."}
],
"completion": {
"role": "assistant",
"content": "Based on the data..."
},
"prompt_tokens": 150,
"completion_tokens": 80
},
{
"type": "tool",
"name": "database_query",
"init_timestamp": "2024-03-14T12:01:03Z",
"end_timestamp": "2024-03-14T12:01:04Z",
"input": "SELECT * FROM users",
"output": "Retrieved 5 users"
}
]
}"""

# "Update Events".
UPDATE_EVENTS_DOC = """{
"events": [
{
"event_id": "event-id-123",
"end_timestamp": "2024-03-14T12:01:02Z",
"completion": "Updated completion text",
"completion_tokens": 100
}
]
}"""

# "Create Agent".
CREATE_AGENT_DOC = """{
"id": "agent-123",
"name": "Research Assistant"
}"""


# ---------------------------------------------------------------------------
# helpers


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Server time is NOW_MS wherever the server asks for it (every module that
    imported ``now_ms``). JWTs and rate limits keep real time."""
    patched = freeze_server_clock(monkeypatch, NOW_MS)
    assert "agentlens.timestamps" in patched and "agentlens.api.agentops" in patched


def post(client, path, body, headers=None):
    """POST a Python value as JSON, or raw text as it is."""
    if isinstance(body, (str, bytes)):
        return client.post(path, data=body, content_type="application/json", headers=headers or {})
    return client.post(path, json=body, headers=headers or {})


def api_key(key):
    return {} if key is None else {"X-Agentops-Api-Key": key}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def create_session(client, body, key="any-key", path="/v2/create_session"):
    return post(client, path, body, api_key(key))


def assert_ok(response, expected):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json() == expected


def assert_token_for(app, token, session_id):
    """An HS256 JWT signed with the app's secret, for session_id, valid 24 h from now."""
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, app.config["SECRET_KEY"], algorithms=["HS256"])
    assert set(claims) == {"session_id", "keys", "iat", "exp"}
    assert claims["session_id"] == session_id
    assert claims["exp"] - claims["iat"] == DAY_SECONDS
    assert abs(claims["iat"] - time.time()) < 60


def assert_session_created(app, response, session_id):
    """200 {"status": "success", "jwt": <token for session_id>, "session_id", "session_url"}.
    Returns the token."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body == {"status": "success", "jwt": body.get("jwt"), "session_id": session_id,
                    "session_url": f"http://localhost/sessions/{session_id}"}
    assert_token_for(app, body["jwt"], session_id)
    return body["jwt"]


def token_for(app, client, session_id, **session_fields):
    """Create a session the SDK's way and return its JWT."""
    response = create_session(client, {"session": {"session_id": session_id, **session_fields}})
    return assert_session_created(app, response, session_id)


def compare(client, session_a, session_b, headers=None):
    response = client.post("/sessions/compare", json={"session_a": session_a, "session_b": session_b},
                           headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def list_sessions(client, headers=None):
    return read_json(client, "/sessions", headers)


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


def start_event(session_id, timestamp, metadata=None):
    return event(LIFECYCLE_ID, session_id, "session_start", timestamp,
                 metadata=metadata)


def end_event(session_id, timestamp, metadata=None):
    return event(LIFECYCLE_ID, session_id, "session_end", timestamp,
                 metadata=metadata)


def generated_ids(stored_events):
    """The ids the server generated for events sent without one: distinct UUIDs."""
    ids = [e["event_id"] for e in stored_events]
    for event_id in ids:
        assert str(uuid.UUID(event_id)) == event_id
    assert len(set(ids)) == len(ids)
    return ids


# ---------------------------------------------------------------------------
# create_session


DOC_METADATA = {"tags": DOC_TAGS, "host_env": DOC_HOST_ENV}


def test_create_session_doc_example(app, client):
    token = assert_session_created(app, create_session(client, CREATE_SESSION_DOC), DOC_SESSION)
    assert read_session(client, DOC_SESSION) == session(
        DOC_SESSION, "unknown", "2024-03-14T12:00:00.000Z", DOC_METADATA,
        [start_event(DOC_SESSION, "2024-03-14T12:00:00.000Z", DOC_METADATA)])
    # the token works
    assert_ok(post(client, "/v2/create_agent", CREATE_AGENT_DOC, bearer(token)),
              {"status": "success"})


def test_create_session_sdk_shape(app, client):
    """agentops 0.3.x sends session.session_id (and ISO times with microseconds)."""
    body = {"session": {"session_id": "sdk-1", "init_timestamp": "2024-03-14T12:00:00.123456+00:00",
                        "tags": ["sdk"], "end_timestamp": None, "end_state": None,
                        "is_running": True, "video": None}}
    assert_session_created(app, create_session(client, body), "sdk-1")
    assert read_session(client, "sdk-1") == session(
        "sdk-1", "unknown", "2024-03-14T12:00:00.123Z", {"tags": ["sdk"]},
        [start_event("sdk-1", "2024-03-14T12:00:00.123Z", {"tags": ["sdk"]})])


def test_create_session_without_init_timestamp_starts_now(app, client):
    assert_session_created(app, create_session(client, {"session": {"session_id": "s-1"}}), "s-1")
    assert read_session(client, "s-1") == session("s-1", "unknown", NOW, {},
                                                  [start_event("s-1", NOW)])


def test_bare_create_session_doc_example(app, client):
    response = create_session(client, CREATE_SESSION_BARE_DOC, path="/create_session")
    assert_session_created(app, response, DOC_SESSION)
    assert read_session(client, DOC_SESSION) == session(
        DOC_SESSION, "unknown", "2024-03-14T12:00:00.000Z", {},
        [start_event(DOC_SESSION, "2024-03-14T12:00:00.000Z")])


def test_create_session_retried_changes_nothing(app, client):
    for _ in range(2):
        assert_session_created(app, create_session(client, CREATE_SESSION_DOC), DOC_SESSION)
    assert read_session(client, DOC_SESSION)["events"] == [
        start_event(DOC_SESSION, "2024-03-14T12:00:00.000Z", DOC_METADATA)]
    assert list_sessions(client)["total"] == 1


def test_update_events_does_not_amend_the_sessions_own_events(app, client):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    before = read_session(client, "s-1")
    start_id = before["events"][0]["event_id"]
    assert_ok(post(client, "/v2/update_events", {"events": [
        {"id": start_id, "model": "gpt-4o", "prompt_tokens": 100,
         "end_timestamp": "2024-03-14T12:00:05Z"}]}, bearer(token)),
        {"status": "success", "updated": 0, "not_found": [start_id]})
    assert read_session(client, "s-1") == before


@pytest.mark.parametrize("body, named", [
    ({"session": {"init_timestamp": "2024-03-14T12:00:00Z"}}, "session_id"),
    ({"session": {"id": ""}}, "id"),
    ({"session": {"id": "s-1", "init_timestamp": "yesterday"}}, "init_timestamp"),
    ({"session": {"id": "s-1", "init_timestamp": 1710417600}}, "init_timestamp"),
    ("{\"session\": ", "body"),
    ("[]", "body"),
])
def test_bad_create_session_is_400_naming_the_field(client, body, named):
    message = assert_error(create_session(client, body), 400)
    assert named in message.lower(), message
    assert list_sessions(client) == {"sessions": [], "total": 0}


# ---------------------------------------------------------------------------
# create_events


LLM_PROMPT = [{"role": "system", "content": "You are a helpful assistant"},
              {"role": "user", "content": "Analyze this data..."}]
LLM_COMPLETION = {"role": "assistant", "content": "Based on the data..."}


def doc_events(session_id, llm_id, tool_id):
    """The create_events example as stored, with the ids the server gave it."""
    return [
        # gpt-4 at $30 / $60 per million tokens: 150 x 30 + 80 x 60 = 9300 µ$
        event(llm_id, session_id, "llm_call", "2024-03-14T12:01:00.000Z", model="gpt-4",
              tokens_in=150, tokens_out=80, cost_usd=0.0093, duration_ms=2000,
              input_data={"prompt": LLM_PROMPT}, output_data={"completion": LLM_COMPLETION}),
        event(tool_id, session_id, "tool_call", "2024-03-14T12:01:03.000Z", duration_ms=1000,
              tool_call={"name": "database_query", "input": "SELECT * FROM users",
                         "output": "Retrieved 5 users"}),
    ]


def test_create_events_doc_example(app, client):
    token = assert_session_created(app, create_session(client, CREATE_SESSION_DOC), DOC_SESSION)
    assert_ok(post(client, "/v2/create_events", CREATE_EVENTS_DOC, bearer(token)),
              {"status": "ok", "processed": 2})
    stored = read_session(client, DOC_SESSION)
    llm_id, tool_id = generated_ids(stored["events"][1:])
    events = [start_event(DOC_SESSION, "2024-03-14T12:00:00.000Z", DOC_METADATA),
              *doc_events(DOC_SESSION, llm_id, tool_id)]
    assert stored == session(DOC_SESSION, "unknown", "2024-03-14T12:00:00.000Z", DOC_METADATA,
                             events, tokens_in=150, tokens_out=80, cost_usd=0.0093)
    assert read_json(client, f"/sessions/{DOC_SESSION}/export") == {
        "exported_at": NOW,
        "session": {"session_id": DOC_SESSION, "agent_name": "unknown", "status": "active",
                    "started_at": "2024-03-14T12:00:00.000Z", "ended_at": None,
                    "total_tokens_in": 150, "total_tokens_out": 80, "metadata": DOC_METADATA},
        "events": events,
        "summary": {"total_events": 2, "total_tokens": 230, "total_cost_usd": 0.0093,
                    "cost_complete": True, "models_used": ["gpt-4"],
                    "event_types": ["llm_call", "tool_call"], "total_duration_ms": 3000},
    }
    assert read_json(client, "/analytics") == {
        "overview": {
            "total_sessions": 1, "active_sessions": 1, "completed_sessions": 0,
            "error_sessions": 0, "error_rate": 0, "total_events": 2, "total_tokens": 230,
            "total_tokens_in": 150, "total_tokens_out": 80, "total_cost_usd": 0.0093,
            "avg_tokens_per_session": 230,
            "earliest_session": "2024-03-14T12:00:00.000Z",
            "latest_session": "2024-03-14T12:00:00.000Z",
        },
        "duration": {"avg_ms": 0, "min_ms": 0, "max_ms": 0},
        "top_agents": [{"agent_name": "unknown", "session_count": 1, "total_tokens": 230,
                        "avg_tokens": 230, "total_cost_usd": 0.0093}],
        "model_usage": [{"model": "gpt-4", "call_count": 1, "total_tokens": 230,
                         "total_tokens_in": 150, "total_tokens_out": 80,
                         "avg_duration_ms": 2000, "cost_usd": 0.0093}],
        "event_types": [{"event_type": "llm_call", "count": 1},
                        {"event_type": "tool_call", "count": 1}],
        "sessions_over_time": [{"day": "2024-03-14", "session_count": 1, "total_tokens": 230,
                                "cost_usd": 0.0093}],
        "hourly_activity": [{"hour": 12, "event_count": 2}],
        "unpriced_models": [],
    }


def test_bare_create_events_doc_example(app, client):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    assert_ok(post(client, "/create_events", CREATE_EVENTS_BARE_DOC, bearer(token)),
              {"status": "ok", "processed": 1})
    stored = read_session(client, "s-1")["events"]
    (llm_id,) = generated_ids(stored[1:])
    assert stored == [start_event("s-1", "2024-03-14T12:00:00.000Z"),
                      event(llm_id, "s-1", "llm_call", "2024-03-14T12:01:00.000Z")]


def test_create_events_resent_with_ids_are_duplicates(app, client):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    body = {"events": [
        {"id": "llm-1", "type": "llm", "init_timestamp": "2024-03-14T12:01:00Z",
         "end_timestamp": "2024-03-14T12:01:02Z", "model": "gpt-4", "prompt": "Hi",
         "completion": "Hello", "prompt_tokens": 150, "completion_tokens": 80},
        {"id": "tool-1", "type": "tool", "name": "database_query",
         "init_timestamp": "2024-03-14T12:01:03Z", "end_timestamp": "2024-03-14T12:01:04Z",
         "input": "SELECT * FROM users", "output": "Retrieved 5 users"}]}
    assert_ok(post(client, "/v2/create_events", body, bearer(token)),
              {"status": "ok", "processed": 2})
    before = [read_session(client, "s-1"), read_json(client, "/analytics"),
              compare(client, "s-1", "s-1")]
    assert_ok(post(client, "/v2/create_events", body, bearer(token)),
              {"status": "ok", "processed": 2, "duplicates": 2})
    assert_ok(post(client, "/create_events", {"events": body["events"][::-1]}, bearer(token)),
              {"status": "ok", "processed": 2, "duplicates": 2})
    assert [read_session(client, "s-1"), read_json(client, "/analytics"),
            compare(client, "s-1", "s-1")] == before
    assert (before[0]["total_tokens_in"], before[0]["total_tokens_out"]) == (150, 80)
    assert before[1]["overview"]["total_events"] == 2


LLM_FIELDS = {"init_timestamp": "2024-03-14T12:01:00Z", "end_timestamp": "2024-03-14T12:01:02Z",
              "model": "gpt-4", "prompt": "Hello", "completion": "Hi", "prompt_tokens": 3,
              "completion_tokens": 2}
# gpt-4 at $30 / $60 per million tokens: 3 x 30 + 2 x 60 = 210 µ$
LLM_STORED = {"event_type": "llm_call", "timestamp": "2024-03-14T12:01:00.000Z", "model": "gpt-4",
              "tokens_in": 3, "tokens_out": 2, "cost_usd": 0.00021, "duration_ms": 2000,
              "input_data": {"prompt": "Hello"}, "output_data": {"completion": "Hi"}}
TOOL_DOC_FIELDS = {"name": "database_query", "init_timestamp": "2024-03-14T12:01:03Z",
                   "end_timestamp": "2024-03-14T12:01:04Z", "input": "SELECT * FROM users",
                   "output": "Retrieved 5 users"}
TOOL_SDK_FIELDS = {"name": "database_query", "init_timestamp": "2024-03-14T12:01:03Z",
                   "end_timestamp": "2024-03-14T12:01:04Z", "params": {"sql": "SELECT 1"},
                   "returns": [1]}
ACTION_FIELDS = {"action_type": "click", "init_timestamp": "2024-03-14T12:01:05Z",
                 "params": {"x": 10}, "returns": "clicked", "logs": "ok", "screenshot": "s.png"}
ERROR_FIELDS = {"init_timestamp": "2024-03-14T12:01:06Z", "error_type": "ValueError",
                "code": "E42", "details": "division by zero"}


@pytest.mark.parametrize("types, fields, stored, error_count", [
    (("llm", "llms"), LLM_FIELDS, LLM_STORED, 0),
    (("tool", "tools"), TOOL_DOC_FIELDS,
     {"event_type": "tool_call", "timestamp": "2024-03-14T12:01:03.000Z", "duration_ms": 1000,
      "tool_call": {"name": "database_query", "input": "SELECT * FROM users",
                    "output": "Retrieved 5 users"}}, 0),
    (("tool", "tools"), TOOL_SDK_FIELDS,
     {"event_type": "tool_call", "timestamp": "2024-03-14T12:01:03.000Z", "duration_ms": 1000,
      "tool_call": {"name": "database_query", "input": {"sql": "SELECT 1"}, "output": [1]}}, 0),
    (("action", "actions"), ACTION_FIELDS,
     {"event_type": "action", "timestamp": "2024-03-14T12:01:05.000Z",
      "input_data": {"x": 10}, "output_data": "clicked",
      "metadata": {"action_type": "click", "logs": "ok", "screenshot": "s.png"}}, 0),
    (("error", "errors"), ERROR_FIELDS,
     {"event_type": "error", "timestamp": "2024-03-14T12:01:06.000Z",
      "output_data": {"error": "division by zero", "error_type": "ValueError", "code": "E42",
                      "details": "division by zero"}}, 1),
])
def test_singular_and_plural_types_map_the_same(app, client, types, fields, stored, error_count):
    for index, kind in enumerate(types):
        session_id = f"s-{kind}"
        token = token_for(app, client, session_id, init_timestamp="2024-03-14T12:00:00Z")
        assert_ok(post(client, "/v2/create_events",
                       {"events": [{"id": f"e-{kind}", "type": kind, **fields}]}, bearer(token)),
                  {"status": "ok", "processed": 1})
        assert read_session(client, session_id)["events"] == [
            start_event(session_id, "2024-03-14T12:00:00.000Z"),
            event(f"e-{kind}", session_id, **stored)]
        metrics = compare(client, session_id, session_id)["session_a"]
        assert (metrics["event_types"], metrics["error_count"]) == (
            {stored["event_type"]: 1}, error_count)


def test_event_type_field_is_read_like_type(app, client):
    """The SDK serialises its events with event_type (and type)."""
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    assert_ok(post(client, "/v2/create_events",
                   {"events": [{"id": "e-1", "event_type": "llms", **LLM_FIELDS}]}, bearer(token)),
              {"status": "ok", "processed": 1})
    assert read_session(client, "s-1")["events"][1] == event("e-1", "s-1", **LLM_STORED)


def test_create_events_refuses_bad_events_one_by_one(app, client):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    body = {"events": [
        {"id": "ok-1", "type": "llm", "init_timestamp": "2024-03-14T12:01:00Z", "prompt_tokens": 5},
        {"id": "bad-1", "type": "llm", "prompt_tokens": "5"},
        {"id": "bad-2", "type": "llm", "init_timestamp": "yesterday"},
        {"id": "bad-3", "type": "llm", "completion_tokens": -1},
    ]}
    response = post(client, "/v2/create_events", body, bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    body_out = response.get_json()
    assert (body_out["status"], body_out["processed"]) == ("ok", 1)
    assert [(r["index"], r["error"].split(":")[0]) for r in body_out["rejected"]] == [
        (1, "prompt_tokens"), (2, "init_timestamp"), (3, "completion_tokens")]
    assert [e["event_id"] for e in read_session(client, "s-1")["events"]] == [
        LIFECYCLE_ID, "ok-1"]


# ---------------------------------------------------------------------------
# update_events


def test_update_events_doc_example(app, client):
    """Amend by id: completion, completion_tokens, end_timestamp; every total follows."""
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    created = {"events": [{"id": "event-id-123", "type": "llm",
                           "init_timestamp": "2024-03-14T12:01:00Z", "model": "gpt-4",
                           "prompt": "Analyze this data...", "completion": "Based on...",
                           "prompt_tokens": 150, "completion_tokens": 80}]}
    assert_ok(post(client, "/v2/create_events", created, bearer(token)),
              {"status": "ok", "processed": 1})
    analytics = read_json(client, "/analytics")
    assert (analytics["overview"]["total_tokens_out"], analytics["model_usage"]) == (80, [
        {"model": "gpt-4", "call_count": 1, "total_tokens": 230, "total_tokens_in": 150,
         "total_tokens_out": 80, "avg_duration_ms": 0, "cost_usd": 0.0093}])

    for _ in range(2):  # an amendment repeated is the same amendment
        assert_ok(post(client, "/v2/update_events", UPDATE_EVENTS_DOC, bearer(token)),
                  {"status": "success", "updated": 1, "not_found": []})
        assert read_session(client, "s-1") == session(
            "s-1", "unknown", "2024-03-14T12:00:00.000Z", {}, [
                start_event("s-1", "2024-03-14T12:00:00.000Z"),
                # repriced with its new tokens: 150 x $30 + 100 x $60 per million = 10,500 µ$
                event("event-id-123", "s-1", "llm_call", "2024-03-14T12:01:00.000Z",
                      model="gpt-4", tokens_in=150, tokens_out=100, cost_usd=0.0105,
                      duration_ms=2000, input_data={"prompt": "Analyze this data..."},
                      output_data={"completion": "Updated completion text"})],
            tokens_in=150, tokens_out=100, cost_usd=0.0105)
        analytics = read_json(client, "/analytics")
        assert analytics["overview"] == {
            "total_sessions": 1, "active_sessions": 1, "completed_sessions": 0,
            "error_sessions": 0, "error_rate": 0, "total_events": 1, "total_tokens": 250,
            "total_tokens_in": 150, "total_tokens_out": 100, "total_cost_usd": 0.0105,
            "avg_tokens_per_session": 250,
            "earliest_session": "2024-03-14T12:00:00.000Z",
            "latest_session": "2024-03-14T12:00:00.000Z"}
        assert analytics["model_usage"] == [
            {"model": "gpt-4", "call_count": 1, "total_tokens": 250, "total_tokens_in": 150,
             "total_tokens_out": 100, "avg_duration_ms": 2000, "cost_usd": 0.0105}]
        assert analytics["top_agents"] == [
            {"agent_name": "unknown", "session_count": 1, "total_tokens": 250, "avg_tokens": 250,
             "total_cost_usd": 0.0105}]
        assert analytics["sessions_over_time"] == [
            {"day": "2024-03-14", "session_count": 1, "total_tokens": 250, "cost_usd": 0.0105}]
        metrics = compare(client, "s-1", "s-1")["session_a"]
        assert (metrics["tokens_out"], metrics["total_tokens"], metrics["models"],
                metrics["total_processing_ms"]) == (
            100, 250, {"gpt-4": {"calls": 1, "tokens_in": 150, "tokens_out": 100,
                                 "cost_usd": 0.0105}}, 2000)


def test_update_events_amends_model_prompt_and_tool_output(app, client):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    assert_ok(post(client, "/v2/create_events", {"events": [
        {"id": "llm-1", "type": "llms", "init_timestamp": "2024-03-14T12:01:00Z",
         "model": "gpt-4", "prompt_tokens": 10, "completion_tokens": 5},
        {"id": "tool-1", "type": "tools", "name": "search", "params": {"q": "x"},
         "init_timestamp": "2024-03-14T12:01:10Z"}]}, bearer(token)),
        {"status": "ok", "processed": 2})
    assert_ok(post(client, "/v2/update_events", {"events": [
        {"id": "llm-1", "model": "gpt-4o", "prompt": "Hi", "prompt_tokens": 12,
         "end_timestamp": "2024-03-14T12:01:00.500Z"},
        {"id": "tool-1", "returns": {"hits": 3}, "end_timestamp": "2024-03-14T12:01:11Z"}]},
        bearer(token)),
        {"status": "success", "updated": 2, "not_found": []})
    assert read_session(client, "s-1") == session(
        "s-1", "unknown", "2024-03-14T12:00:00.000Z", {}, [
            start_event("s-1", "2024-03-14T12:00:00.000Z"),
            # repriced as gpt-4o, $2.50 / $10 per million tokens: 12 x 2.5 + 5 x 10 = 80 µ$
            event("llm-1", "s-1", "llm_call", "2024-03-14T12:01:00.000Z", model="gpt-4o",
                  tokens_in=12, tokens_out=5, cost_usd=0.00008, duration_ms=500,
                  input_data={"prompt": "Hi"}),
            event("tool-1", "s-1", "tool_call", "2024-03-14T12:01:10.000Z", duration_ms=1000,
                  tool_call={"name": "search", "input": {"q": "x"}, "output": {"hits": 3}})],
        tokens_in=12, tokens_out=5, cost_usd=0.00008)
    assert read_json(client, "/analytics")["model_usage"] == [
        {"model": "gpt-4o", "call_count": 1, "total_tokens": 17, "total_tokens_in": 12,
         "total_tokens_out": 5, "avg_duration_ms": 500, "cost_usd": 0.00008}]


def test_update_events_for_unknown_id_is_not_found_and_changes_nothing(app, client):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    assert_ok(post(client, "/v2/create_events", {"events": [
        {"id": "llm-1", "type": "llm", "init_timestamp": "2024-03-14T12:01:00Z",
         "model": "gpt-4", "prompt_tokens": 10, "completion_tokens": 5}]}, bearer(token)),
        {"status": "ok", "processed": 1})
    before = [read_session(client, "s-1"), read_json(client, "/analytics")]
    assert_ok(post(client, "/v2/update_events", UPDATE_EVENTS_DOC, bearer(token)),
              {"status": "success", "updated": 0, "not_found": ["event-id-123"]})
    assert [read_session(client, "s-1"), read_json(client, "/analytics")] == before
    # known and unknown ids in one request: the known one is amended
    assert_ok(post(client, "/update_events", {"events": [
        {"id": "nope", "completion_tokens": 1}, {"id": "llm-1", "completion_tokens": 7}]},
        bearer(token)),
        {"status": "success", "updated": 1, "not_found": ["nope"]})
    after = read_session(client, "s-1")
    assert (after["total_tokens_out"], after["events"][1]["tokens_out"]) == (7, 7)
    assert read_json(client, "/analytics")["overview"]["total_tokens_out"] == 7


@pytest.mark.parametrize("body, named", [
    ({"events": [{"completion_tokens": 100}]}, "id"),
    ({"events": [{"id": "e-1", "completion_tokens": "100"}]}, "completion_tokens"),
    ({"events": [{"id": "e-1", "end_timestamp": "soon"}]}, "end_timestamp"),
    ({"events": []}, "events"),
    ({"event": [{"id": "e-1"}]}, "events"),
    ("[]", "events"),
])
def test_bad_update_events_is_400_naming_the_field(app, client, body, named):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    message = assert_error(post(client, "/v2/update_events", body, bearer(token)), 400)
    assert named in message, message


# ---------------------------------------------------------------------------
# update_session and create_agent


def test_update_session_doc_example(app, client):
    token = assert_session_created(app, create_session(client, CREATE_SESSION_DOC), DOC_SESSION)
    assert_ok(post(client, "/v2/update_session", UPDATE_SESSION_DOC, bearer(token)),
              {"status": "success"})
    # How it ended is the status and the session_end's metadata, not the session's.
    metadata = {"tags": ["production", "updated-tag"], "host_env": DOC_HOST_ENV}
    expected = session(
        DOC_SESSION, "unknown", "2024-03-14T12:00:00.000Z", metadata, [
            start_event(DOC_SESSION, "2024-03-14T12:00:00.000Z", DOC_METADATA),
            end_event(DOC_SESSION, "2024-03-14T12:05:00.000Z",
                      {"end_state": "Success",
                       "end_state_reason": "Task successfully completed"})],
        ended_at="2024-03-14T12:05:00.000Z", status="completed")
    assert read_session(client, DOC_SESSION) == expected
    analytics = read_json(client, "/analytics")
    assert analytics["overview"]["completed_sessions"] == 1
    assert analytics["duration"] == {"avg_ms": 300000, "min_ms": 300000, "max_ms": 300000}
    # retried (on the bare route): nothing moves
    assert_ok(post(client, "/update_session", UPDATE_SESSION_DOC, bearer(token)),
              {"status": "success"})
    assert read_session(client, DOC_SESSION) == expected
    assert read_json(client, "/analytics") == analytics


@pytest.mark.parametrize("end_state, status, ended_at", [
    ("Success", "completed", "2024-03-14T12:05:00.000Z"),
    ("completed", "completed", "2024-03-14T12:05:00.000Z"),  # the document's Python example
    ("Fail", "error", "2024-03-14T12:05:00.000Z"),
    ("Indeterminate", "active", None),
])
def test_update_session_end_states(app, client, end_state, status, ended_at):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    assert_ok(post(client, "/v2/update_session", {"session": {
        "id": "s-1", "end_timestamp": "2024-03-14T12:05:00Z", "end_state": end_state}},
        bearer(token)), {"status": "success"})
    stored = read_session(client, "s-1")
    assert (stored["status"], stored["ended_at"], stored["metadata"]) == (status, ended_at, {})
    expected_events = [start_event("s-1", "2024-03-14T12:00:00.000Z")]
    if ended_at is not None:
        expected_events.append(end_event("s-1", ended_at, {"end_state": end_state}))
    assert stored["events"] == expected_events
    overview = read_json(client, "/analytics")["overview"]
    assert (overview["active_sessions"], overview["completed_sessions"],
            overview["error_sessions"], overview["error_rate"]) == {
        "active": (1, 0, 0, 0), "completed": (0, 1, 0, 0), "error": (0, 0, 1, 100)}[status]


def test_update_session_without_end_timestamp_is_metadata_only(app, client):
    """What the SDK sends for add_tags / set_tags: the session stays active."""
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z", tags=["a"])
    assert_ok(post(client, "/v2/update_session", {"session": {"session_id": "s-1",
                                                              "tags": ["a", "b"]}},
                   bearer(token)), {"status": "success"})
    assert read_session(client, "s-1") == session(
        "s-1", "unknown", "2024-03-14T12:00:00.000Z", {"tags": ["a", "b"]},
        [start_event("s-1", "2024-03-14T12:00:00.000Z", {"tags": ["a"]})])


def test_update_session_with_unknown_end_state_is_400(app, client):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    message = assert_error(post(client, "/v2/update_session", {"session": {
        "id": "s-1", "end_timestamp": "2024-03-14T12:05:00Z", "end_state": "Done-ish"}},
        bearer(token)), 400)
    assert "end_state" in message
    assert read_session(client, "s-1")["status"] == "active"


def test_create_agent_doc_example(app, client):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    assert_ok(post(client, "/v2/create_agent", CREATE_AGENT_DOC, bearer(token)),
              {"status": "success"})
    assert read_session(client, "s-1") == session(
        "s-1", "Research Assistant", "2024-03-14T12:00:00.000Z",
        {"agents": {"agent-123": "Research Assistant"}},
        [start_event("s-1", "2024-03-14T12:00:00.000Z")])
    assert read_json(client, "/analytics")["top_agents"] == [
        {"agent_name": "Research Assistant", "session_count": 1, "total_tokens": 0,
         "avg_tokens": 0, "total_cost_usd": 0}]


def test_create_agent_without_name_is_400(app, client):
    token = token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    assert "name" in assert_error(post(client, "/v2/create_agent", {"id": "agent-123"},
                                       bearer(token)), 400)
    assert read_session(client, "s-1")["agent_name"] == "unknown"


def test_python_integration_example(app, client):
    """The document's Python example, with fixed times instead of now()."""
    token = assert_session_created(app, create_session(client, {"session": {
        "id": "py-1", "init_timestamp": "2024-03-14T12:00:00+00:00", "tags": ["example"]}},
        key="your_api_key"), "py-1")
    assert_ok(post(client, "/v2/create_events", {"events": [{
        "type": "llm", "init_timestamp": "2024-03-14T12:00:01+00:00", "model": "gpt-4",
        "prompt": "Hello, world!", "completion": "Hi there!", "prompt_tokens": 3,
        "completion_tokens": 2}]}, bearer(token)), {"status": "ok", "processed": 1})
    assert_ok(post(client, "/v2/update_session", {"session": {
        "id": "py-1", "end_timestamp": "2024-03-14T12:00:02+00:00", "end_state": "completed"}},
        bearer(token)), {"status": "success"})
    stored = read_session(client, "py-1")
    (llm_id,) = generated_ids(stored["events"][1:2])
    assert stored == session(
        "py-1", "unknown", "2024-03-14T12:00:00.000Z",
        {"tags": ["example"]}, [
            start_event("py-1", "2024-03-14T12:00:00.000Z", {"tags": ["example"]}),
            event(llm_id, "py-1", "llm_call", "2024-03-14T12:00:01.000Z", model="gpt-4",
                  tokens_in=3, tokens_out=2, cost_usd=0.00021,
                  input_data={"prompt": "Hello, world!"}, output_data={"completion": "Hi there!"}),
            end_event("py-1", "2024-03-14T12:00:02.000Z", {"end_state": "completed"})],
        ended_at="2024-03-14T12:00:02.000Z", tokens_in=3, tokens_out=2, cost_usd=0.00021,
        status="completed")


# ---------------------------------------------------------------------------
# reauthorize_jwt


def test_reauthorize_jwt_doc_example(app, client):
    assert_session_created(app, create_session(client, CREATE_SESSION_DOC), DOC_SESSION)
    response = post(client, "/v2/reauthorize_jwt", REAUTHORIZE_DOC, api_key("your_api_key"))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body == {"status": "success", "jwt": body.get("jwt")}
    assert_token_for(app, body["jwt"], DOC_SESSION)
    assert_ok(post(client, "/v2/create_agent", CREATE_AGENT_DOC, bearer(body["jwt"])),
              {"status": "success"})
    assert read_session(client, DOC_SESSION)["agent_name"] == "Research Assistant"


def test_reauthorize_jwt_replaces_an_expired_token(app, client):
    token_for(app, client, "s-1", init_timestamp="2024-03-14T12:00:00Z")
    expired = jwt.encode({"session_id": "s-1", "iat": int(time.time()) - 2 * DAY_SECONDS,
                          "exp": int(time.time()) - DAY_SECONDS},
                         app.config["SECRET_KEY"], algorithm="HS256")
    event_body = {"events": [{"id": "e-1", "type": "llm", "init_timestamp": "2024-03-14T12:01:00Z"}]}
    assert "expired" in assert_error(post(client, "/v2/create_events", event_body,
                                          bearer(expired)), 401).lower()
    response = post(client, "/reauthorize_jwt", {"session_id": "s-1"}, api_key("k"))
    assert response.status_code == 200, response.get_data(as_text=True)
    fresh = response.get_json()["jwt"]
    assert_token_for(app, fresh, "s-1")
    assert_ok(post(client, "/v2/create_events", event_body, bearer(fresh)),
              {"status": "ok", "processed": 1})


@pytest.mark.parametrize("body, named", [
    ({}, "session_id"), ({"session_id": ""}, "session_id"), ({"session_id": 5}, "session_id"),
    ("[]", "body"), ("nope", "body"),
])
def test_reauthorize_jwt_without_session_id_is_400(client, body, named):
    message = assert_error(post(client, "/v2/reauthorize_jwt", body, api_key("k")), 400)
    assert named in message, message


# ---------------------------------------------------------------------------
# JWTs


JWT_ROUTES = [
    ("/v2/create_events", {"events": [{"id": "intruder", "type": "llm", "prompt_tokens": 999,
                                       "init_timestamp": "2024-03-14T12:03:00Z"}]}),
    ("/create_events", {"events": [{"id": "intruder", "type": "llm", "prompt_tokens": 999}]}),
    ("/v2/update_events", {"events": [{"id": "llm-1", "completion_tokens": 999}]}),
    ("/update_events", {"events": [{"id": "llm-1", "completion_tokens": 999}]}),
    ("/v2/update_session", {"session": {"id": "s-a", "end_timestamp": "2024-03-14T12:05:00Z",
                                        "end_state": "Fail"}}),
    ("/update_session", {"session": {"id": "s-a", "end_timestamp": "2024-03-14T12:05:00Z",
                                     "end_state": "Fail"}}),
    ("/v2/create_agent", {"id": "x", "name": "Intruder"}),
    ("/create_agent", {"id": "x", "name": "Intruder"}),
]


@pytest.fixture
def session_a(app, client):
    """Session s-a with one llm event; returns its token."""
    token = token_for(app, client, "s-a", init_timestamp="2024-03-14T12:00:00Z")
    assert_ok(post(client, "/v2/create_events", {"events": [
        {"id": "llm-1", "type": "llm", "init_timestamp": "2024-03-14T12:01:00Z", "model": "gpt-4",
         "prompt_tokens": 10, "completion_tokens": 5}]}, bearer(token)),
        {"status": "ok", "processed": 1})
    return token


def claims(session_id="s-a", lifetime=3600):
    now = int(time.time())
    return {"session_id": session_id, "iat": now, "exp": now + lifetime}


def tampered(app):
    """A genuine token for s-b whose payload is swapped for one naming s-a."""
    good = jwt.encode(claims("s-b"), app.config["SECRET_KEY"], algorithm="HS256")
    other = jwt.encode(claims("s-a"), OTHER_SECRET, algorithm="HS256")
    header, _, signature = good.split(".")
    return f"{header}.{other.split('.')[1]}.{signature}"


BAD_AUTH = {
    "missing": lambda app: {},
    "empty bearer": lambda app: {"Authorization": "Bearer "},
    "garbage": lambda app: bearer("garbage"),
    "not bearer": lambda app: {"Authorization": "Basic czFhOmtleQ=="},
    "api key instead": lambda app: {"X-Agentops-Api-Key": "any-key"},
    "other secret": lambda app: bearer(jwt.encode(claims(), OTHER_SECRET, algorithm="HS256")),
    "alg none": lambda app: bearer(jwt.encode(claims(), None, algorithm="none")),
    "tampered payload": lambda app: bearer(tampered(app)),
    "no exp": lambda app: bearer(jwt.encode({"session_id": "s-a"}, app.config["SECRET_KEY"],
                                            algorithm="HS256")),
    "no session_id": lambda app: bearer(jwt.encode({"exp": int(time.time()) + 3600},
                                                   app.config["SECRET_KEY"], algorithm="HS256")),
    "expired": lambda app: bearer(jwt.encode(claims(lifetime=-60), app.config["SECRET_KEY"],
                                             algorithm="HS256")),
}


@pytest.mark.parametrize("path, body", JWT_ROUTES)
@pytest.mark.parametrize("auth", list(BAD_AUTH))
def test_bad_jwt_is_401_json_and_changes_nothing(app, client, session_a, path, body, auth):
    before = [read_session(client, "s-a"), read_json(client, "/analytics")]
    message = assert_error(post(client, path, body, BAD_AUTH[auth](app)), 401)
    if auth == "expired":
        assert "expired" in message.lower(), message
    assert [read_session(client, "s-a"), read_json(client, "/analytics")] == before
    assert list_sessions(client)["total"] == 1


def test_token_from_a_zero_lifetime_app_is_expired(make_app):
    app = make_app(JWT_LIFETIME_SECONDS=-1)
    client = app.test_client()
    response = create_session(client, {"session": {"session_id": "s-1"}})
    assert response.status_code == 200, response.get_data(as_text=True)
    token = response.get_json()["jwt"]
    message = assert_error(post(client, "/v2/create_agent", CREATE_AGENT_DOC, bearer(token)), 401)
    assert "expired" in message.lower(), message


def test_token_for_one_session_cannot_touch_another(app, client, session_a):
    token_b = token_for(app, client, "s-b", init_timestamp="2024-03-14T12:00:00Z")
    assert_ok(post(client, "/v2/create_events", {"events": [
        {"id": "b-llm", "type": "llm", "init_timestamp": "2024-03-14T12:02:00Z", "model": "gpt-4",
         "prompt_tokens": 20, "completion_tokens": 8}]}, bearer(token_b)),
        {"status": "ok", "processed": 1})
    before = [read_session(client, "s-a"), read_session(client, "s-b"),
              read_json(client, "/analytics")]

    # update_session naming B with A's token (either spelling of the id)
    for named in ({"id": "s-b"}, {"session_id": "s-b"}):
        assert_error(post(client, "/v2/update_session", {"session": {
            **named, "end_timestamp": "2024-03-14T12:05:00Z", "end_state": "Fail"}},
            bearer(session_a)), 401)
    # create_events whose events say they belong to B
    assert_error(post(client, "/v2/create_events", {"events": [
        {"id": "sneaky", "type": "llm", "session_id": "s-b", "prompt_tokens": 999}]},
        bearer(session_a)), 401)
    assert_error(post(client, "/v2/create_events", {"events": [
        {"id": "fine", "type": "llm", "prompt_tokens": 1},
        {"id": "sneaky", "type": "llm", "session_id": "s-b", "prompt_tokens": 999}]},
        bearer(session_a)), 401)
    # B's event amended with A's token: not found, B unchanged
    assert_ok(post(client, "/v2/update_events", {"events": [
        {"id": "b-llm", "completion_tokens": 999, "completion": "hijacked"}]}, bearer(session_a)),
        {"status": "success", "updated": 0, "not_found": ["b-llm"]})

    assert [read_session(client, "s-a"), read_session(client, "s-b"),
            read_json(client, "/analytics")] == before
    assert list_sessions(client)["total"] == 2


def test_token_may_name_its_own_session(app, client, session_a):
    assert_ok(post(client, "/v2/create_events", {"events": [
        {"id": "own", "type": "llm", "session_id": "s-a", "init_timestamp": "2024-03-14T12:02:00Z",
         "prompt_tokens": 1}]}, bearer(session_a)), {"status": "ok", "processed": 1})
    assert_ok(post(client, "/v2/update_session", {"session": {
        "session_id": "s-a", "end_timestamp": "2024-03-14T12:05:00Z", "end_state": "Success"}},
        bearer(session_a)), {"status": "success"})
    stored = read_session(client, "s-a")
    assert (stored["status"], stored["total_tokens_in"],
            [e["event_id"] for e in stored["events"]]) == (
        "completed", 11, [LIFECYCLE_ID, "llm-1", "own", LIFECYCLE_ID])


# ---------------------------------------------------------------------------
# the API key


@pytest.fixture
def keyed(make_app):
    app = make_app(API_KEYS=["k1", "k2"])
    return app, app.test_client()


READ_KEY = {"X-API-Key": "k1"}


@pytest.mark.parametrize("path, body", [
    ("/v2/create_session", {"session": {"session_id": "s-1"}}),
    ("/create_session", {"id": "s-1"}),
    ("/v2/reauthorize_jwt", {"session_id": "s-1"}),
    ("/reauthorize_jwt", {"session_id": "s-1"}),
])
@pytest.mark.parametrize("key", [None, "", "wrong", "K1", "k1,k2", "k"])
def test_keyed_mode_refuses_missing_or_wrong_api_key(keyed, path, body, key):
    app, client = keyed
    assert_error(post(client, path, body, api_key(key)), 401)
    assert list_sessions(client, READ_KEY) == {"sessions": [], "total": 0}


@pytest.mark.parametrize("key", ["k1", "k2"])
def test_keyed_mode_accepts_each_key_and_the_jwt_alone_authorises_the_rest(keyed, key):
    app, client = keyed
    token = assert_session_created(app, create_session(client, {"session": {
        "session_id": "s-1", "init_timestamp": "2024-03-14T12:00:00Z"}}, key=key), "s-1")
    assert_ok(post(client, "/v2/create_events", {"events": [
        {"id": "e-1", "type": "llm", "init_timestamp": "2024-03-14T12:01:00Z"}]}, bearer(token)),
        {"status": "ok", "processed": 1})
    response = post(client, "/v2/reauthorize_jwt", {"session_id": "s-1"}, api_key(key))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_token_for(app, response.get_json()["jwt"], "s-1")
    assert [e["event_id"] for e in read_session(client, "s-1", READ_KEY)["events"]] == [
        LIFECYCLE_ID, "e-1"]


@pytest.mark.parametrize("key", [None, "", "anything", "6f1b3c1e-3b1a-4c4e-9a55-0a1b2c3d4e5f"])
def test_dev_mode_accepts_any_or_no_api_key(app, client, key):
    assert_session_created(app, create_session(client, {"session": {"session_id": "s-1"}},
                                               key=key), "s-1")
    response = post(client, "/v2/reauthorize_jwt", {"session_id": "s-1"}, api_key(key))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_token_for(app, response.get_json()["jwt"], "s-1")


# ---------------------------------------------------------------------------
# one session through three formats


MIXED = "mixed-1"
NATIVE_BATCH = {"events": [
    {"event_type": "session_start", "session_id": MIXED, "agent_name": "native-agent",
     "metadata": {"version": "1.0"}, "timestamp": "2024-03-14T12:00:00Z"},
    {"event_type": "llm_call", "session_id": MIXED, "event_id": "n-llm-1", "model": "gpt-4",
     "input_data": {"prompt": "Plan"}, "output_data": {"response": "Search first"},
     "tokens_in": 100, "tokens_out": 40, "duration_ms": 1500,
     "timestamp": "2024-03-14T12:00:10Z"},
]}
AGNOST_TOOL = {"event_id": "g-tool-1", "session_id": MIXED, "primitive_type": "tool",
               "primitive_name": "web_search", "args": "{\"q\": \"weather\"}",
               "result": "\"sunny\"", "latency": 250, "timestamp": 1710417620000,
               "success": True}
AGENTOPS_LLM = {"events": [{"id": "o-llm-1", "type": "llm", "model": "gpt-4o-mini",
                            "prompt": "Summarise", "completion": "It is sunny.",
                            "prompt_tokens": 30, "completion_tokens": 12,
                            "init_timestamp": "2024-03-14T12:00:30Z",
                            "end_timestamp": "2024-03-14T12:00:31.500Z"}]}
AGENTOPS_END = {"session": {"id": MIXED, "end_timestamp": "2024-03-14T12:01:00Z",
                            "end_state": "Success"}}
BASELINE_BATCH = {"events": [
    {"event_type": "session_start", "session_id": "baseline", "agent_name": "native-agent",
     "timestamp": "2024-03-14T11:00:00Z"},
    {"event_type": "llm_call", "session_id": "baseline", "event_id": "base-llm", "model": "gpt-4",
     "tokens_in": 100, "tokens_out": 40, "duration_ms": 1500, "timestamp": "2024-03-14T11:00:10Z"},
]}
MIXED_METADATA = {"version": "1.0", "org_id": "my-org"}
MIXED_EVENTS = [
    # POST /events' own session_start: its id is the documented <session_id>:session_start
    event(f"{MIXED}:session_start", MIXED, "session_start", "2024-03-14T12:00:00.000Z",
          metadata={"version": "1.0"}),
    # gpt-4 at $30 / $60 per million tokens: 100 x 30 + 40 x 60 = 5400 µ$
    event("n-llm-1", MIXED, "llm_call", "2024-03-14T12:00:10.000Z", model="gpt-4",
          tokens_in=100, tokens_out=40, cost_usd=0.0054, duration_ms=1500,
          input_data={"prompt": "Plan"},
          output_data={"response": "Search first"}),
    event("g-tool-1", MIXED, "tool_call", "2024-03-14T12:00:20.000Z", duration_ms=250,
          tool_call={"name": "web_search", "input": {"q": "weather"}, "output": "sunny",
                     "success": True}),
    # gpt-4o-mini at $0.15 / $0.60 per million: 30 x 0.15 + 12 x 0.6 = 11.7 µ$, shown 0.000012
    event("o-llm-1", MIXED, "llm_call", "2024-03-14T12:00:30.000Z", model="gpt-4o-mini",
          tokens_in=30, tokens_out=12, cost_usd=0.000012, duration_ms=1500,
          input_data={"prompt": "Summarise"},
          output_data={"completion": "It is sunny."}),
    end_event(MIXED, "2024-03-14T12:01:00.000Z", {"end_state": "Success"}),
]


def send_mixed(app, client, retry):
    duplicates = {"duplicates": 2} if retry else {}
    assert_ok(client.post("/events", json=BASELINE_BATCH),
              {"status": "ok", "processed": 2, **duplicates})
    assert_ok(client.post("/events", json=NATIVE_BATCH),
              {"status": "ok", "processed": 2, **duplicates})
    assert_ok(client.post("/api/v1/capture-event", json=AGNOST_TOOL, headers={"X-Org-Id": "my-org"}),
              {"success": True, "event_id": "g-tool-1"})
    response = post(client, "/v2/reauthorize_jwt", {"session_id": MIXED}, api_key("any-key"))
    assert response.status_code == 200, response.get_data(as_text=True)
    token = response.get_json()["jwt"]
    assert_token_for(app, token, MIXED)
    assert_ok(post(client, "/v2/create_events", AGENTOPS_LLM, bearer(token)),
              {"status": "ok", "processed": 1, **({"duplicates": 1} if retry else {})})
    assert_ok(post(client, "/v2/update_session", AGENTOPS_END, bearer(token)),
              {"status": "success"})


def everything(client):
    return {"mixed": read_session(client, MIXED),
            "export": read_json(client, f"/sessions/{MIXED}/export"),
            "analytics": read_json(client, "/analytics"),
            "compare": compare(client, "baseline", MIXED),
            "list": list_sessions(client)}


def test_one_session_through_three_formats_is_consistent_and_retry_proof(app, client):
    send_mixed(app, client, retry=False)
    first = everything(client)
    assert first["mixed"] == session(MIXED, "native-agent", "2024-03-14T12:00:00.000Z",
                                     MIXED_METADATA, MIXED_EVENTS,
                                     ended_at="2024-03-14T12:01:00.000Z", tokens_in=130,
                                     tokens_out=52, cost_usd=0.005412,  # 5411.7 µ$
                                     status="completed")
    assert first["export"] == {
        "exported_at": NOW,
        "session": {"session_id": MIXED, "agent_name": "native-agent", "status": "completed",
                    "started_at": "2024-03-14T12:00:00.000Z",
                    "ended_at": "2024-03-14T12:01:00.000Z", "total_tokens_in": 130,
                    "total_tokens_out": 52, "metadata": MIXED_METADATA},
        "events": MIXED_EVENTS,
        "summary": {"total_events": 3, "total_tokens": 182, "total_cost_usd": 0.005412,
                    "cost_complete": True, "models_used": ["gpt-4", "gpt-4o-mini"],
                    "event_types": ["llm_call", "tool_call"], "total_duration_ms": 3250},
    }
    assert first["analytics"] == {
        "overview": {
            "total_sessions": 2, "active_sessions": 1, "completed_sessions": 1,
            "error_sessions": 0, "error_rate": 0, "total_events": 4, "total_tokens": 322,
            # 5400 (baseline) + 5411.7 µ$
            "total_tokens_in": 230, "total_tokens_out": 92, "total_cost_usd": 0.010812,
            "avg_tokens_per_session": 161,
            "earliest_session": "2024-03-14T11:00:00.000Z",
            "latest_session": "2024-03-14T12:00:00.000Z",
        },
        "duration": {"avg_ms": 60000, "min_ms": 60000, "max_ms": 60000},
        "top_agents": [{"agent_name": "native-agent", "session_count": 2, "total_tokens": 322,
                        "avg_tokens": 161, "total_cost_usd": 0.010812}],
        "model_usage": [
            {"model": "gpt-4", "call_count": 2, "total_tokens": 280, "total_tokens_in": 200,
             "total_tokens_out": 80, "avg_duration_ms": 1500, "cost_usd": 0.0108},
            {"model": "gpt-4o-mini", "call_count": 1, "total_tokens": 42, "total_tokens_in": 30,
             "total_tokens_out": 12, "avg_duration_ms": 1500, "cost_usd": 0.000012},
        ],
        "event_types": [{"event_type": "llm_call", "count": 3},
                        {"event_type": "tool_call", "count": 1}],
        "sessions_over_time": [{"day": "2024-03-14", "session_count": 2, "total_tokens": 322,
                                "cost_usd": 0.010812}],
        "hourly_activity": [{"hour": 11, "event_count": 1}, {"hour": 12, "event_count": 3}],
        "unpriced_models": [],
    }
    assert first["compare"] == {
        "compared_at": NOW,
        "session_a": {
            "session_id": "baseline", "agent_name": "native-agent", "status": "active",
            "tokens_in": 100, "tokens_out": 40, "total_tokens": 140, "cost_usd": 0.0054,
            "cost_complete": True, "event_count": 1,
            "error_count": 0, "total_processing_ms": 1500, "avg_event_duration_ms": 1500,
            "session_duration_ms": 10000,
            "models": {"gpt-4": {"calls": 1, "tokens_in": 100, "tokens_out": 40,
                                 "cost_usd": 0.0054}},
            "event_types": {"llm_call": 1}, "tools": {}, "metadata": {},
        },
        "session_b": {
            "session_id": MIXED, "agent_name": "native-agent", "status": "completed",
            "tokens_in": 130, "tokens_out": 52, "total_tokens": 182, "cost_usd": 0.005412,
            "cost_complete": True, "event_count": 3,
            "error_count": 0, "total_processing_ms": 3250, "avg_event_duration_ms": 1083.33,
            "session_duration_ms": 60000,
            "models": {"gpt-4": {"calls": 1, "tokens_in": 100, "tokens_out": 40,
                                 "cost_usd": 0.0054},
                       "gpt-4o-mini": {"calls": 1, "tokens_in": 30, "tokens_out": 12,
                                       "cost_usd": 0.000012}},
            "event_types": {"llm_call": 2, "tool_call": 1},
            "tools": {"web_search": {"calls": 1, "total_duration": 250}},
            "metadata": MIXED_METADATA,
        },
        "deltas": {
            "total_tokens": {"absolute": 42, "percent": 30},
            "tokens_in": {"absolute": 30, "percent": 30},
            "tokens_out": {"absolute": 12, "percent": 30},
            "event_count": {"absolute": 2, "percent": 200},
            "error_count": {"absolute": 0, "percent": 0},
            "total_processing_ms": {"absolute": 1750, "percent": 116.67},
            "avg_event_duration_ms": {"absolute": -416.67, "percent": -27.78},
            # 0.005412 - 0.0054 = 0.000012, which is 0.22 % of 0.0054
            "cost_usd": {"absolute": 0.000012, "percent": 0.22},
        },
        "shared": {"event_types": ["llm_call", "tool_call"], "tools": ["web_search"],
                   "models": ["gpt-4", "gpt-4o-mini"]},
    }
    assert first["list"]["total"] == 2

    send_mixed(app, client, retry=True)
    assert everything(client) == first


@pytest.mark.parametrize("order", [("native", "agentops"), ("agentops", "native")])
def test_native_session_start_and_create_session_settle_the_same_whatever_the_order(client, order):
    """DECISIONS: the session has the agent_name and metadata of its session_start and
    started_at is the earliest known time, whatever the order; README: create_session
    is a session_start at init_timestamp with tags/host_env in metadata."""
    requests = {
        "native": lambda: client.post("/events", json={"events": [{
            "event_type": "session_start", "session_id": "both", "agent_name": "native-agent",
            "metadata": {"version": "1.0"}, "timestamp": "2024-03-14T12:00:00Z"}]}),
        "agentops": lambda: create_session(client, {"session": {
            "id": "both", "init_timestamp": "2024-03-14T11:59:00Z", "tags": ["t"]}}),
    }
    responses = {name: requests[name]() for name in order}
    assert_ok(responses["native"], {"status": "ok", "processed": 1})
    assert responses["agentops"].status_code == 200
    stored = read_session(client, "both")
    assert (stored["agent_name"], stored["started_at"], stored["metadata"]) == (
        "native-agent", "2024-03-14T11:59:00.000Z", {"version": "1.0", "tags": ["t"]})
