"""End to end: the real agentops SDK (0.3.26) against a real AgentLens server.

Each agentops session runs in its own subprocess (tests/sdk_scripts/agentops_session.py:
the SDK's Client is a process-wide singleton with signal handlers and atexit hooks),
next to a gunicorn server on 127.0.0.1 (tests/server.py). The tests read everything
back through GET /sessions/<id>, /sessions/<id>/export, /analytics and
POST /sessions/compare. The scripts refuse and report any connection that is not to
that server (agentops' PyPI update check is switched off in the script).
"""
import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from server import (finish_sdk_script, ingest_native_session, run_sdk_script, server_fixture,
                    start_sdk_script, start_server)
from helpers import counted

API_KEY = "6f1b3c1e-3b1a-4c4e-9a55-0a1b2c3d4e5f"  # agentops drops keys that are not UUIDs
OTHER_KEY = "0b7a4a52-6c1e-4f0e-9d3a-1f2e3d4c5b6a"
WRONG_KEY = "11111111-2222-4333-8444-555555555555"
WRITER_ID = "7d4a7c1e-0000-4000-8000-000000000001"
REVIEWER_ID = "7d4a7c1e-0000-4000-8000-000000000002"

keyed_server = server_fixture("keyed_server", api_key=f"{OTHER_KEY},{API_KEY}")
dev_server = server_fixture("dev_server")


class Runs:
    def __init__(self, server, success, fail):
        self.server, self.success, self.fail = server, success, fail


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The "success" and "fail" scenarios, at once, each in its own process, one dev-mode server."""
    server = start_server(tmp_path_factory.mktemp("agentops"))
    try:
        processes = [
            start_sdk_script("agentops_session.py", API_KEY, scenario, server_url=server.url)
            for scenario in ("success", "fail")]
        success, fail = [finish_sdk_script(process) for process in processes]
        yield Runs(server, success, fail)
    finally:
        server.stop()


def at(result, ms):
    """The server's rendering of the script's t0 + ms."""
    moment = datetime.fromisoformat(result["t0"]) + timedelta(milliseconds=ms)
    moment = moment.astimezone(timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def test_success_session(runs):
    result = runs.success
    assert result["end_state"] == "Success"
    session = runs.server.get_json(f"/sessions/{result['session_id']}")
    assert session["status"] == "completed"
    assert session["agent_name"] == "writer"  # from create_agent
    assert (session["total_tokens_in"], session["total_tokens_out"]) == (12 + 30 + 8, 5 + 7 + 2)
    # gpt-4o-mini at $0.15 / $0.60 per million tokens: 12 x 0.15 + 5 x 0.6 = 4.8 µ$ and
    # 8 x 0.15 + 2 x 0.6 = 2.4 µ$; the claude call's cost is the client's, $0.0001.
    # 107.2 µ$ in all, shown to 6 places.
    assert (session["total_cost_usd"], session["cost_complete"]) == (0.000107, True)
    assert session["ended_at"] is not None and session["ended_at"] >= session["started_at"]
    metadata = session["metadata"]
    # The SDK keeps tags in a set: their order is arbitrary.
    assert sorted(metadata["tags"]) == ["extra-tag", "nightly", "sdk-e2e"]
    assert "end_state" not in metadata  # how it ended: the status, and the session_end below
    assert metadata["agents"] == {WRITER_ID: "writer"}
    assert metadata["host_env"]["SDK"]["AgentOps SDK Version"] == "0.3.26"
    events = session["events"]
    assert events[0]["event_type"] == "session_start"
    assert events[-1]["event_type"] == "session_end"
    assert events[-1]["metadata"] == {"end_state": "Success", "end_state_reason": "all good"}
    types = [event["event_type"] for event in counted(events)]
    assert sorted(types) == ["action", "error", "llm_call", "llm_call", "llm_call",
                             "tool_call", "tool_call"]
    for event in events:
        assert event["parent_id"] is None  # agentops 0.3 sends no parent on the wire


def test_success_llm_events_carry_model_tokens_prompt_and_completion(runs):
    result = runs.success
    found = {event["event_id"]: event
             for event in runs.server.get_json(f"/sessions/{result['session_id']}")["events"]}
    ids = result["ids"]
    first = found[ids["llm_mini_1"]]
    assert first["event_type"] == "llm_call"
    assert (first["model"], first["tokens_in"], first["tokens_out"]) == ("gpt-4o-mini", 12, 5)
    assert first["cost_usd"] == 0.000005   # 4.8 µ$
    assert first["input_data"] == {"prompt": [{"role": "user", "content": "Write a haiku"}]}
    assert first["output_data"] == {
        "completion": {"role": "assistant", "content": "Autumn moon rises"}}
    assert first["duration_ms"] == 125  # end_timestamp - init_timestamp
    assert first["timestamp"] == at(result, 0)
    assert first["metadata"] == {"agent_id": WRITER_ID}

    claude = found[ids["llm_claude"]]
    assert (claude["model"], claude["tokens_in"], claude["tokens_out"]) == ("claude-3-haiku", 30, 7)
    assert claude["cost_usd"] == 0.0001   # the client's cost wins over 16.25 µ$ of list price
    assert claude["input_data"] == {"prompt": "Summarise: the cat sat on the mat"}
    assert claude["output_data"] == {"completion": "A cat sat."}
    assert claude["duration_ms"] == 40
    assert claude["timestamp"] == at(result, 130)
    assert claude["metadata"] is None

    second = found[ids["llm_mini_2"]]
    assert (second["model"], second["tokens_in"], second["tokens_out"]) == ("gpt-4o-mini", 8, 2)
    assert second["duration_ms"] == 10


def test_success_tool_action_and_error_events(runs):
    result = runs.success
    events = runs.server.get_json(f"/sessions/{result['session_id']}")["events"]
    found = {event["event_id"]: event for event in events}
    ids = result["ids"]

    calculator = found[ids["calculator"]]
    assert calculator["event_type"] == "tool_call"
    assert calculator["tool_call"] == {
        "name": "calculator", "input": {"a": 1, "b": 2}, "output": "3"}
    assert calculator["duration_ms"] == 5

    # @record_tool: the SDK records the call's arguments (with defaults) and return value.
    [search] = [event for event in events
                if (event["tool_call"] or {}).get("name") == "search_web"]
    assert search["event_type"] == "tool_call"
    assert search["tool_call"] == {"name": "search_web", "input": {"query": "news", "limit": 3},
                                   "output": ["r1", "r2"]}

    click = found[ids["click"]]
    assert click["event_type"] == "action"
    assert click["input_data"] == {"x": 1}
    assert click["output_data"] == "done"
    assert click["metadata"] == {"logs": "clicked", "action_type": "click"}
    assert click["duration_ms"] == 3

    error = found[ids["division"]]
    assert error["event_type"] == "error"
    assert error["output_data"] == {"error_type": "ZeroDivisionError", "code": "E500",
                                    "details": "division by zero", "error": "division by zero"}
    assert "ZeroDivisionError: division by zero" in error["metadata"]["logs"]


def test_fail_session(runs):
    result = runs.fail
    assert result["end_state"] == "Fail"
    session = runs.server.get_json(f"/sessions/{result['session_id']}")
    assert session["status"] == "error"
    assert session["agent_name"] == "reviewer"
    assert (session["total_tokens_in"], session["total_tokens_out"]) == (100, 50)
    assert session["ended_at"] is not None
    assert sorted(session["metadata"]["tags"]) == ["retry", "sdk-e2e"]
    assert session["events"][-1]["metadata"] == {"end_state": "Fail", "end_state_reason": "timed out"}
    assert session["metadata"]["agents"] == {REVIEWER_ID: "reviewer"}
    found = {event["event_id"]: event for event in session["events"]}
    llm = found[result["ids"]["llm"]]
    assert (llm["event_type"], llm["model"], llm["tokens_in"], llm["tokens_out"],
            llm["duration_ms"]) == ("llm_call", "gpt-4o-mini", 100, 50, 200)
    assert llm["input_data"] == {"prompt": "Review this PR"}
    assert llm["output_data"] == {"completion": "Looks risky"}
    timeout = found[result["ids"]["timeout"]]
    assert timeout["event_type"] == "error"
    assert timeout["output_data"] == {"error_type": "Timeout", "code": "408",
                                      "details": "took too long", "error": "took too long"}
    assert [event["event_type"] for event in session["events"]] == [
        "session_start", "llm_call", "error", "session_end"]


def test_export(runs):
    server, result = runs.server, runs.success
    session = server.get_json(f"/sessions/{result['session_id']}")
    exported = server.get_json(f"/sessions/{result['session_id']}/export")
    assert exported["session"] == {key: session[key] for key in (
        "session_id", "agent_name", "status", "started_at", "ended_at",
        "total_tokens_in", "total_tokens_out", "metadata")}
    assert exported["events"] == session["events"]
    events = counted(session["events"])
    first_seen = list(dict.fromkeys(event["event_type"] for event in events))
    summary = exported["summary"]
    assert summary["total_events"] == 7
    assert summary["total_tokens"] == 64
    assert summary["models_used"] == ["gpt-4o-mini", "claude-3-haiku"]
    assert summary["event_types"] == first_seen
    assert sorted(first_seen) == ["action", "error", "llm_call", "tool_call"]
    unset = [event["duration_ms"] for event in events
             if event["event_id"] not in result["ids"].values() or event["event_type"] == "error"]
    assert summary["total_duration_ms"] == pytest.approx(125 + 40 + 10 + 5 + 3 + sum(unset))

    text = server.get(f"/sessions/{result['session_id']}/export?format=csv").text
    rows = {row["event_id"]: row for row in csv.DictReader(io.StringIO(text))}
    calculator = rows[result["ids"]["calculator"]]
    assert (calculator["tool_name"], calculator["tool_input"], calculator["tool_output"]) == (
        "calculator", '{"a":1,"b":2}', "3")
    llm = rows[result["ids"]["llm_mini_1"]]
    assert (llm["model"], llm["tokens_in"], llm["tokens_out"]) == ("gpt-4o-mini", "12", "5")


def test_analytics(runs):
    analytics = runs.server.get_json("/analytics")
    overview = analytics["overview"]
    assert {key: overview[key] for key in (
        "total_sessions", "active_sessions", "completed_sessions", "error_sessions", "error_rate",
        "total_events", "total_tokens", "total_tokens_in", "total_tokens_out",
        "avg_tokens_per_session")} == {
        "total_sessions": 2, "active_sessions": 0, "completed_sessions": 1, "error_sessions": 1,
        "error_rate": 50.0, "total_events": 9, "total_tokens": 214, "total_tokens_in": 150,
        "total_tokens_out": 64, "avg_tokens_per_session": 107}
    # gpt-4o-mini: 4.8 + 2.4 + (100 x 0.15 + 50 x 0.6 = 45) = 52.2 µ$
    assert analytics["model_usage"] == [
        {"model": "gpt-4o-mini", "call_count": 3, "total_tokens": 177, "total_tokens_in": 120,
         "total_tokens_out": 57, "avg_duration_ms": round((125 + 10 + 200) / 3, 2),
         "cost_usd": 0.000052},
        {"model": "claude-3-haiku", "call_count": 1, "total_tokens": 37, "total_tokens_in": 30,
         "total_tokens_out": 7, "avg_duration_ms": 40.0, "cost_usd": 0.0001},
    ]
    assert overview["total_cost_usd"] == 0.000152   # 107.2 + 45 µ$
    assert analytics["unpriced_models"] == []
    assert analytics["event_types"] == [
        {"event_type": "llm_call", "count": 4}, {"event_type": "error", "count": 2},
        {"event_type": "tool_call", "count": 2}, {"event_type": "action", "count": 1}]
    assert analytics["top_agents"] == [
        {"agent_name": "reviewer", "session_count": 1, "total_tokens": 150, "avg_tokens": 150,
         "total_cost_usd": 0.000045},
        {"agent_name": "writer", "session_count": 1, "total_tokens": 64, "avg_tokens": 64,
         "total_cost_usd": 0.000107}]
    spans = []
    for result in (runs.success, runs.fail):
        session = runs.server.get_json(f"/sessions/{result['session_id']}")
        span = (datetime.fromisoformat(session["ended_at"])
                - datetime.fromisoformat(session["started_at"]))
        spans.append(round(span.total_seconds() * 1000))
    duration = analytics["duration"]
    assert (duration["min_ms"], duration["max_ms"]) == (min(spans), max(spans))

    writer = runs.server.get_json("/analytics?agent_name=writer")["overview"]
    assert (writer["total_sessions"], writer["total_tokens_in"], writer["total_tokens_out"],
            writer["completed_sessions"], writer["total_events"]) == (1, 50, 14, 1, 7)


def test_compare_with_a_native_session(runs):
    server = runs.server
    ingest_native_session(server, "native-for-agentops")
    compared = server.post_json("/sessions/compare", {"session_a": "native-for-agentops",
                                                      "session_b": runs.success["session_id"]})
    a, b = compared["session_a"], compared["session_b"]
    assert (a["error_count"], a["event_count"], a["tokens_in"], a["tokens_out"]) == (0, 3, 20, 10)
    assert (b["error_count"], b["event_count"], b["tokens_in"], b["tokens_out"]) == (1, 7, 50, 14)
    assert (b["status"], b["agent_name"]) == ("completed", "writer")
    assert b["models"] == {"gpt-4o-mini": {"calls": 2, "tokens_in": 20, "tokens_out": 7,
                                           "cost_usd": 0.000007},   # 4.8 + 2.4 µ$
                           "claude-3-haiku": {"calls": 1, "tokens_in": 30, "tokens_out": 7,
                                              "cost_usd": 0.0001}}
    assert b["event_types"] == {"llm_call": 3, "tool_call": 2, "action": 1, "error": 1}
    assert set(b["tools"]) == {"calculator", "search_web"}
    assert b["tools"]["calculator"] == {"calls": 1, "total_duration": 5}
    assert compared["deltas"]["error_count"] == {"absolute": 1, "percent": None}
    assert compared["deltas"]["tokens_in"] == {"absolute": 30, "percent": 150.0}
    assert compared["deltas"]["tokens_out"] == {"absolute": 4, "percent": 40.0}
    assert compared["shared"]["models"] == ["gpt-4o-mini", "claude-3-haiku"]
    assert compared["shared"]["tools"] == ["get_weather", "calculator", "search_web"]

    failed = server.post_json("/sessions/compare", {
        "session_a": "native-for-agentops", "session_b": runs.fail["session_id"]})["session_b"]
    assert (failed["status"], failed["error_count"], failed["event_count"]) == ("error", 1, 2)
    assert failed["models"] == {"gpt-4o-mini": {"calls": 1, "tokens_in": 100, "tokens_out": 50,
                                                "cost_usd": 0.000045}}


def test_two_sessions_at_once_each_get_their_own_events(dev_server):
    result = run_sdk_script("agentops_session.py", API_KEY, "two_sessions",
                            server_url=dev_server.url)
    first = dev_server.get_json(f"/sessions/{result['first']}")
    second = dev_server.get_json(f"/sessions/{result['second']}")
    # Each JWT names its own session: events, agents and tags do not cross over.
    assert (first["agent_name"], first["total_tokens_in"], first["total_tokens_out"]) \
        == ("agent-one", 1, 2)
    assert (second["agent_name"], second["total_tokens_in"], second["total_tokens_out"]) \
        == ("agent-two", 3, 4)
    assert [e["model"] for e in counted(first["events"])] == ["gpt-4o-mini"]
    assert [e["event_type"] for e in counted(second["events"])] == ["llm_call", "tool_call"]
    assert counted(second["events"])[1]["tool_call"] == {
        "name": "lookup", "input": {"id": 7}, "output": {"found": True}}
    assert first["metadata"]["tags"] == ["first"] and second["metadata"]["tags"] == ["second"]
    # Success -> completed; Indeterminate -> stays active (README's mapping).
    assert (second["status"], second["events"][-1]["metadata"]) == ("completed", {"end_state": "Success"})
    assert (first["status"], first["ended_at"], first["events"][-1]["event_type"]) \
        == ("active", None, "llm_call")
    overview = dev_server.get_json("/analytics")["overview"]
    assert (overview["total_sessions"], overview["active_sessions"], overview["completed_sessions"],
            overview["total_tokens_in"], overview["total_tokens_out"]) == (2, 1, 1, 4, 6)


# --- AGENTLENS_API_KEY set: X-Agentops-Api-Key must be one of the keys ------------------

def test_with_api_keys_the_right_key_works(keyed_server):
    result = run_sdk_script("agentops_session.py", API_KEY, "success", server_url=keyed_server.url)
    assert result["session_started"] is True
    session = keyed_server.get_json(f"/sessions/{result['session_id']}")  # read with the other key
    assert session["status"] == "completed"
    assert session["agent_name"] == "writer"
    assert (session["total_tokens_in"], session["total_tokens_out"]) == (50, 14)
    # add_tags sends update_session with the JWT only (no API key): it must still count.
    assert sorted(session["metadata"]["tags"]) == ["extra-tag", "nightly", "sdk-e2e"]
    assert len(counted(session["events"])) == 7
    assert keyed_server.get(f"/sessions/{result['session_id']}", api_key="").status_code == 401
    # The SDK's key is a credential: it must not be stored where readers can see it.
    exported = keyed_server.get(f"/sessions/{result['session_id']}/export").text
    assert API_KEY not in json.dumps(session) and API_KEY not in exported


def test_with_api_keys_a_wrong_key_stores_nothing(keyed_server):
    result = run_sdk_script("agentops_session.py", WRONG_KEY, "wrong_key",
                            server_url=keyed_server.url)
    assert result["session_started"] is False  # create_session was refused
    assert "invalid API key" in result["stderr"]  # how agentops reports a 401
    assert keyed_server.get_json("/sessions") == {"sessions": [], "total": 0}
    overview = keyed_server.get_json("/analytics")["overview"]
    assert (overview["total_sessions"], overview["total_events"], overview["total_tokens"]) \
        == (0, 0, 0)


def test_the_network_guard_sees_what_agentops_would_fetch(keyed_server):
    """The control for every "no network" check above: left on, agentops' PyPI update
    check is caught (through the dead proxy, or as a DNS lookup) and refused."""
    process = start_sdk_script("agentops_session.py", WRONG_KEY, "wrong_key",
                               "--allow-update-check", server_url=keyed_server.url)
    result = finish_sdk_script(process, allow_network=True)
    assert result["network_attempts"], "the guard saw nothing: it would not see an escape either"
    for what, host, port in result["network_attempts"]:
        expected = (("connect", "127.0.0.1", 9), ("getaddrinfo", "pypi.org", 443))
        assert (what, host, port) in expected, result["network_attempts"]
    assert keyed_server.get_json("/sessions")["total"] == 0
