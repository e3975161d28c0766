"""End to end: the real Agnost SDKs (agnost, agnost-mcp) against a real AgentLens server.

Each SDK runs in a subprocess (tests/sdk_scripts/) next to a gunicorn server on
127.0.0.1 (tests/server.py); the tests then read everything back through
GET /sessions/<id>, /sessions/<id>/export, /analytics and POST /sessions/compare.
The scripts refuse and report any connection that is not to that server.
"""
import csv
import hashlib
import io
import json

import pytest

from server import (finish_sdk_script, ingest_native_session, run_sdk_script,
                    server_fixture, start_sdk_script, start_server)
from helpers import counted

ORG = "0b7a4a52-6c1e-4f0e-9d3a-1f2e3d4c5b6a"
OTHER_KEY = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
WRONG_KEY = "deadbeef-0000-4000-8000-000000000000"
CONVERSATION, OTHER_CONVERSATION = "conv-weather-1", "conv-double-2"

keyed_server = server_fixture("keyed_server", api_key=f"{ORG}, {OTHER_KEY}")


class Run:
    def __init__(self, server, result):
        self.server, self.result = server, result


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    """One run of agnost_conversation.py against its own dev-mode server."""
    server = start_server(tmp_path_factory.mktemp("agnost-conversation"))
    try:
        result = run_sdk_script("agnost_conversation.py", ORG, CONVERSATION, OTHER_CONVERSATION,
                                server_url=server.url)
        yield Run(server, result)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mcp(tmp_path_factory):
    """One run of agnost_mcp_server.py against its own dev-mode server."""
    server = start_server(tmp_path_factory.mktemp("agnost-mcp"))
    try:
        result = run_sdk_script("agnost_mcp_server.py", ORG, server_url=server.url)
        yield Run(server, result)
    finally:
        server.stop()


def by_id(events):
    return {event["event_id"]: event for event in events}


def the_only_session(server):
    listing = server.get_json("/sessions")
    assert listing["total"] == 1, listing
    return server.get_json(f"/sessions/{listing['sessions'][0]['session_id']}")


# --- agnost: the conversation SDK -------------------------------------------------------

CONVERSATION_METADATA = {
    "client_config": "conversation_sdk", "connection_type": "sdk", "ip": "",
    "user_data": {"user_id": "user_1", "name": "Ada", "email": "ada@example.com", "plan": "pro"},
    "org_id": ORG,
}


def test_conversation_session_is_named_by_its_agent_turns_and_keeps_client_metadata(conversation):
    session = conversation.server.get_json(f"/sessions/{CONVERSATION}")
    assert session["session_id"] == CONVERSATION  # the conversation id, verbatim
    assert session["agent_name"] == "weather-agent"  # the turns' name beats client_config
    assert session["metadata"] == CONVERSATION_METADATA
    assert session["status"] == "active"
    assert session["ended_at"] is None
    assert (session["total_tokens_in"], session["total_tokens_out"]) == (0, 0)
    start = session["events"][0]
    assert (start["event_type"], start["event_id"]) \
        == ("session_start", f"{CONVERSATION}:agnost:session_start")
    assert start["metadata"] == CONVERSATION_METADATA
    events = session["events"]
    times = [event["timestamp"] for event in events]
    assert times == sorted(times)
    # In time order, which is not always the order of the calls: they follow within a
    # few milliseconds, the times are the SDK's, and the sender thread posts them
    # (a run in CI once had a turn before the failed prompt sent ahead of it).
    assert sorted(event["event_type"] for event in events[1:]) == sorted([
        "agent_turn", "tool_call", "tool_call", "resource", "prompt_error",
        "agent_turn", "agent_turn", "agent_turn_error"])


def test_conversation_agent_turns_come_back_as_the_plain_text_that_was_sent(conversation):
    ids = conversation.result["ids"]
    events = conversation.server.get_json(f"/sessions/{CONVERSATION}")["events"]
    found = by_id(events)

    turn = found[ids["turn"]]
    assert turn["event_type"] == "agent_turn"
    # The SDK sends json.dumps(text); the server decodes it once.
    assert turn["input_data"] == {"prompt": "What's the weather in Paris?"}
    assert turn["output_data"] == {"response": "Sunny, 21C."}
    assert turn["duration_ms"] == 1500
    assert turn["metadata"] == {"model": "gpt-4o", "tokens_in": "42", "event_type": ""}
    assert turn["parent_id"] is None
    assert turn["model"] is None and turn["tokens_in"] is None  # properties are not usage

    # Text that is itself JSON is decoded once only: it stays text.
    json_text = found[ids["json_text_turn"]]
    assert json_text["input_data"] == {"prompt": '{"city": "Oslo"}'}
    assert json_text["output_data"] == {"response": "[1, 2]"}

    # begin()/end(): the SDK sends a new event id (not the one end() returns), so find it by text.
    [deferred] = [event for event in events
                  if (event["input_data"] or {}).get("prompt") == "And tomorrow?"]
    assert deferred["event_type"] == "agent_turn"
    assert deferred["output_data"] == {"response": "Rain."}
    assert deferred["metadata"] == {"step": "2", "channel": "web", "event_type": ""}
    assert 60 <= deferred["duration_ms"] < 10_000  # measured by the SDK around a 60 ms sleep

    failed = found[ids["failed_turn"]]
    assert failed["event_type"] == "agent_turn_error"
    assert failed["input_data"] == {"prompt": "Book me a flight"}
    assert failed["output_data"] == {"response": "I can't do that."}
    assert failed["duration_ms"] == 900


def test_conversation_tool_resource_and_prompt_events(conversation):
    ids = conversation.result["ids"]
    found = by_id(conversation.server.get_json(f"/sessions/{CONVERSATION}")["events"])

    tool = found[ids["tool"]]
    assert tool["event_type"] == "tool_call"
    assert tool["tool_call"] == {
        "name": "get_weather", "input": {"city": "Paris", "units": "metric"},
        "output": {"temp": 21, "sky": "clear"}, "success": True}
    assert tool["duration_ms"] == 120
    assert (tool["input_data"], tool["output_data"]) == (None, None)
    # The conversation SDK has no parent field: a parent travels only as a (string) property.
    assert tool["metadata"] == {"parent_id": ids["turn"], "event_type": "tool"}

    failed_tool = found[ids["failed_tool"]]
    assert failed_tool["event_type"] == "tool_call"
    assert failed_tool["tool_call"] == {"name": "geocode", "input": {"q": "paris"},
                                        "output": "geocoder unavailable", "success": False}
    assert failed_tool["metadata"] == {"parent_id": ids["tool"], "event_type": "tool"}

    resource = found[ids["resource"]]
    assert resource["event_type"] == "resource"
    assert resource["input_data"] == {"name": "notes", "args": "file://notes.txt"}
    assert resource["output_data"] == {"result": "line 1\nline 2"}
    assert resource["tool_call"] is None
    assert resource["duration_ms"] == 3

    prompt = found[ids["failed_prompt"]]
    assert prompt["event_type"] == "prompt_error"
    assert prompt["input_data"] == {"name": "summarise", "args": {"topic": "rain"}}
    assert prompt["output_data"] is None  # no output: the SDK sends "", which means none


def test_conversation_without_turns_is_named_by_client_config(conversation):
    session = conversation.server.get_json(f"/sessions/{OTHER_CONVERSATION}")
    assert session["agent_name"] == "conversation_sdk"
    assert session["metadata"] == {"client_config": "conversation_sdk", "connection_type": "sdk",
                                   "ip": "", "user_data": {"user_id": "user_2"}, "org_id": ORG}
    [tool] = counted(session["events"])
    assert tool["event_id"] == conversation.result["ids"]["other_tool"]
    assert tool["tool_call"] == {
        "name": "double", "input": {"x": 21}, "output": 42, "success": True}
    assert tool["duration_ms"] == 2


def test_conversation_export_matches_the_session(conversation):
    server = conversation.server
    session = server.get_json(f"/sessions/{CONVERSATION}")
    response = server.get(f"/sessions/{CONVERSATION}/export")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    exported = response.json()
    assert exported["session"] == {key: session[key] for key in (
        "session_id", "agent_name", "status", "started_at", "ended_at",
        "total_tokens_in", "total_tokens_out", "metadata")}
    assert exported["events"] == session["events"]
    [measured] = [event["duration_ms"] for event in session["events"]
                  if (event["input_data"] or {}).get("prompt") == "And tomorrow?"]
    assert exported["summary"] == {
        "total_events": 8,
        "total_tokens": 0,
        "total_cost_usd": 0,     # Agnost carries no tokens and no cost: nothing to price
        "cost_complete": True,
        "models_used": [],
        "event_types": ["agent_turn", "tool_call", "resource", "prompt_error", "agent_turn_error"],
        "total_duration_ms": 1500 + 120 + 7 + 3 + 4 + 10 + measured + 900,
    }

    text = server.get(f"/sessions/{CONVERSATION}/export?format=csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    tools = {row["tool_name"]: row for row in rows if row["tool_name"]}
    assert json.loads(tools["get_weather"]["tool_input"]) == {"city": "Paris", "units": "metric"}
    assert json.loads(tools["get_weather"]["tool_output"]) == {"temp": 21, "sky": "clear"}
    assert tools["geocode"]["tool_output"] == "geocoder unavailable"


def test_conversation_analytics(conversation):
    analytics = conversation.server.get_json("/analytics")
    overview = analytics["overview"]
    assert {key: overview[key] for key in (
        "total_sessions", "active_sessions", "completed_sessions", "error_sessions",
        "error_rate", "total_events", "total_tokens")} == {
        "total_sessions": 2, "active_sessions": 2, "completed_sessions": 0, "error_sessions": 0,
        "error_rate": 0, "total_events": 9, "total_tokens": 0}
    assert analytics["event_types"] == [
        {"event_type": "agent_turn", "count": 3}, {"event_type": "tool_call", "count": 3},
        {"event_type": "agent_turn_error", "count": 1}, {"event_type": "prompt_error", "count": 1},
        {"event_type": "resource", "count": 1}]
    assert analytics["model_usage"] == []
    assert analytics["top_agents"] == [
        {"agent_name": "conversation_sdk", "session_count": 1, "total_tokens": 0, "avg_tokens": 0,
         "total_cost_usd": 0},
        {"agent_name": "weather-agent", "session_count": 1, "total_tokens": 0, "avg_tokens": 0,
         "total_cost_usd": 0}]
    assert analytics["duration"] == {"avg_ms": 0, "min_ms": 0, "max_ms": 0}  # nothing ended

    weather = conversation.server.get_json("/analytics?agent_name=weather-agent")
    assert weather["overview"]["total_sessions"] == 1
    assert weather["overview"]["total_events"] == 8


def test_conversation_compared_with_a_native_session(conversation):
    server = conversation.server
    ingest_native_session(server, "native-for-agnost")
    compared = server.post_json("/sessions/compare",
                                {"session_a": "native-for-agnost", "session_b": CONVERSATION})
    a, b = compared["session_a"], compared["session_b"]
    assert (a["error_count"], a["event_count"], a["status"]) == (0, 3, "completed")
    # Failed tool call, prompt_error and agent_turn_error.
    assert (b["error_count"], b["event_count"], b["status"]) == (3, 8, "active")
    assert b["agent_name"] == "weather-agent"
    assert b["metadata"] == CONVERSATION_METADATA
    assert b["event_types"] == {"agent_turn": 3, "tool_call": 2, "resource": 1,
                                "prompt_error": 1, "agent_turn_error": 1}
    assert b["tools"] == {"get_weather": {"calls": 1, "total_duration": 120},
                          "geocode": {"calls": 1, "total_duration": 7}}
    assert b["models"] == {}
    assert compared["deltas"]["error_count"] == {"absolute": 3, "percent": None}
    assert compared["deltas"]["event_count"] == {"absolute": 5, "percent": 166.67}
    assert compared["shared"] == {  # the native session's names, then the conversation's others
        "event_types": ["llm_call", "tool_call", "agent_turn", "resource", "prompt_error",
                        "agent_turn_error"],
        "tools": ["get_weather", "calculator", "geocode"], "models": ["gpt-4o-mini"]}


# --- agnost-mcp: a FastMCP server over an in-memory client session ----------------------

MCP_METADATA = {
    "client_config": "sdk-e2e-client", "connection_type": "", "ip": "",
    "tools": ["get_weather", "explode", "add"],
    "user_data": {"userId": "user-42", "email": "u42@example.com", "role": "admin"},
    "org_id": ORG,
}


def test_mcp_client_sees_the_tools_work_and_fail(mcp):
    assert mcp.result["drained"] is True
    assert [(call["tool"], call["is_error"]) for call in mcp.result["calls"]] == [
        ("get_weather", False), ("explode", True), ("get_weather", False), ("add", False)]


def test_mcp_session_and_tool_calls(mcp):
    session = the_only_session(mcp.server)
    assert session["agent_name"] == "sdk-e2e-client"  # client_config: no agent turns in MCP
    assert session["metadata"] == MCP_METADATA
    assert session["status"] == "active"
    assert (session["total_tokens_in"], session["total_tokens_out"]) == (0, 0)
    events = session["events"]
    assert events[0]["event_type"] == "session_start"
    assert events[0]["metadata"] == MCP_METADATA
    calls = counted(events)
    assert [event["event_type"] for event in calls] == ["tool_call"] * 4
    # args arrive as json.dumps({"tool": name, **arguments}) and come back decoded.
    assert [event["tool_call"] for event in calls] == [
        {"name": "get_weather", "input": {"tool": "get_weather", "city": "Paris"},
         "output": {"city": "Paris", "temp": 21, "units": "celsius"}, "success": True},
        {"name": "explode", "input": {"tool": "explode", "reason": "test"},
         "output": "Error executing tool explode: boom: test", "success": False},
        {"name": "get_weather", "input": {"tool": "get_weather", "city": "Oslo", "units": "kelvin"},
         "output": {"city": "Oslo", "temp": 21, "units": "kelvin"}, "success": True},
        {"name": "add", "input": {"tool": "add", "a": 3, "b": 4},
         "output": {"content": "7", "structuredContent": {"result": 7}}, "success": True},
    ]
    for event in calls:
        assert event["parent_id"] is None  # agnost-mcp sends no parent
        assert event["metadata"] is None
        assert event["input_data"] is None and event["output_data"] is None
        assert isinstance(event["duration_ms"], (int, float)) and event["duration_ms"] >= 0
    assert len({event["event_id"] for event in calls}) == 4  # the server made the ids


def test_mcp_export_analytics_and_compare(mcp):
    server = mcp.server
    session = the_only_session(server)
    session_id = session["session_id"]
    exported = server.get_json(f"/sessions/{session_id}/export")
    assert exported["events"] == session["events"]
    assert exported["summary"] == {
        "total_events": 4, "total_tokens": 0, "total_cost_usd": 0, "cost_complete": True,
        "models_used": [], "event_types": ["tool_call"],
        "total_duration_ms": sum(event["duration_ms"] for event in counted(session["events"]))}

    analytics = server.get_json("/analytics")
    assert analytics["overview"]["total_sessions"] == 1
    assert analytics["overview"]["total_events"] == 4
    assert analytics["overview"]["error_sessions"] == 0  # a failed call does not end the session
    assert analytics["event_types"] == [{"event_type": "tool_call", "count": 4}]
    assert analytics["top_agents"] == [
        {"agent_name": "sdk-e2e-client", "session_count": 1, "total_tokens": 0, "avg_tokens": 0,
         "total_cost_usd": 0}]

    ingest_native_session(server, "native-for-mcp")
    compared = server.post_json("/sessions/compare",
                                {"session_a": "native-for-mcp", "session_b": session_id})
    b = compared["session_b"]
    assert (b["error_count"], b["event_count"]) == (1, 4)
    assert {name: tool["calls"] for name, tool in b["tools"].items()} == {
        "get_weather": 2, "explode": 1, "add": 1}
    assert list(b["tools"]) == ["get_weather", "explode", "add"]
    assert b["event_types"] == {"tool_call": 4}
    assert compared["session_a"]["error_count"] == 0
    assert compared["deltas"]["error_count"] == {"absolute": 1, "percent": None}
    assert compared["shared"]["tools"] == ["get_weather", "calculator", "explode", "add"]


# --- AGENTLENS_API_KEY set: X-Org-Id is the credential ----------------------------------

def test_with_api_keys_the_sdks_using_a_key_are_stored(keyed_server):
    # The second configured key as the org id (key rotation), read back with the first.
    processes = [
        start_sdk_script("agnost_conversation.py", OTHER_KEY, CONVERSATION, OTHER_CONVERSATION,
                         server_url=keyed_server.url),
        start_sdk_script("agnost_mcp_server.py", OTHER_KEY, server_url=keyed_server.url),
    ]
    results = [finish_sdk_script(process) for process in processes]
    assert "401" not in results[0]["stderr"]
    assert results[1]["drained"] is True
    listing = keyed_server.get_json("/sessions")
    assert listing["total"] == 3
    assert {s["agent_name"] for s in listing["sessions"]} == {
        "weather-agent", "conversation_sdk", "sdk-e2e-client"}
    conversation = keyed_server.get_json(f"/sessions/{CONVERSATION}")
    assert len(counted(conversation["events"])) == 8
    assert conversation["agent_name"] == "weather-agent"
    # The X-Org-Id is an API key here: only its fingerprint is kept, never the key itself.
    assert conversation["metadata"] == {
        **CONVERSATION_METADATA,
        "org_id": "sha256:" + hashlib.sha256(OTHER_KEY.encode()).hexdigest()[:16]}
    assert OTHER_KEY not in keyed_server.get(f"/sessions/{CONVERSATION}/export").text
    [mcp_session] = [s for s in listing["sessions"] if s["agent_name"] == "sdk-e2e-client"]
    mcp_events = keyed_server.get_json(f"/sessions/{mcp_session['session_id']}")["events"]
    assert len(counted(mcp_events)) == 4
    assert keyed_server.get_json("/analytics")["overview"]["total_events"] == 13
    # Reading needs a key too.
    for path in ("/sessions", f"/sessions/{CONVERSATION}", f"/sessions/{CONVERSATION}/export",
                 "/analytics"):
        assert keyed_server.get(path, api_key="").status_code == 401, path
        assert keyed_server.get(path, api_key=WRONG_KEY).status_code == 401, path


def test_with_api_keys_a_wrong_org_id_stores_nothing(keyed_server):
    processes = [
        start_sdk_script("agnost_conversation.py", WRONG_KEY, CONVERSATION, OTHER_CONVERSATION,
                         server_url=keyed_server.url),
        start_sdk_script("agnost_mcp_server.py", WRONG_KEY, server_url=keyed_server.url),
    ]
    conversation, mcp_run = [finish_sdk_script(process) for process in processes]
    # The SDK was refused (it logs the status and carries on), ...
    assert "401 Client Error" in conversation["stderr"]
    # ... the MCP tools still work for their client, ...
    assert [call["is_error"] for call in mcp_run["calls"]] == [False, True, False, False]
    # ... and the server kept nothing.
    assert keyed_server.get_json("/sessions") == {"sessions": [], "total": 0}
    overview = keyed_server.get_json("/analytics")["overview"]
    assert (overview["total_sessions"], overview["total_events"]) == (0, 0)
    assert keyed_server.get(f"/sessions/{CONVERSATION}").status_code == 404
