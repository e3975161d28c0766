"""End to end: the real agentops 0.4 SDK against a real AgentLens server (gunicorn).

agentops 0.4.21 needs opentelemetry-sdk<1.45 and the suite's agentops 0.3.26 tests
need 1.45, so its script runs in its own environment, .venv-agentops04, which the
README's test command builds first (scripts/prepare-sdk-venvs). Four runs at once,
each in its own process, against one server with keys: a trace ended Success, one
ended Fail, one ended as the SDK ends it by default, and one with a key the server
refuses. Each trace has a decorated agent
whose task calls a decorated tool and prints (the SDK uploads what was printed to
/v4/logs/upload/). The results are read back by value through GET /sessions/<id>,
/explain, POST /sessions/compare and /analytics.
"""
import uuid

import pytest

from server import REPO, finish_sdk_script, start_sdk_script, start_server

KEY = "6f1b3c1e-3b1a-4c4e-9a55-0a1b2c3d4e5f"  # the SDK warns about keys that are not UUIDs
WRONG_KEY = "11111111-2222-4333-8444-555555555555"
PYTHON = REPO / ".venv-agentops04" / "bin" / "python"
LOG_LINE = " - INFO - drafting a haiku about autumn\n"


class Runs:
    def __init__(self, server, results):
        self.server, self.results = server, results


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    assert PYTHON.exists(), "run scripts/prepare-sdk-venvs first (the README's test command does)"
    server = start_server(tmp_path_factory.mktemp("agentops04"), api_key=f"other-key,{KEY}")
    try:
        processes = {name: start_sdk_script("agentops04_trace.py", key, end_state, wait,
                                            server_url=server.url, python=str(PYTHON))
                     for name, key, end_state, wait in (("success", KEY, "Success", 10),
                                                        ("fail", KEY, "Fail", 10),
                                                        ("default", KEY, "default", 10),
                                                        ("wrong_key", WRONG_KEY, "Success", 1))}
        yield Runs(server, {name: finish_sdk_script(process)
                            for name, process in processes.items()})
    finally:
        server.stop()


def test_the_environment_is_the_pinned_one(runs):
    assert runs.results["success"]["versions"][0] == "0.4.21"
    assert tuple(map(int, runs.results["success"]["versions"][1].split(".")[:2])) < (1, 45)


def events_by_type(session):
    found = {}
    for event in session["events"]:
        found.setdefault(event["event_type"], []).append(event)
    return found


def test_a_trace_ended_success(runs):
    result = runs.results["success"]
    assert result["token"] and uuid.UUID(result["project_id"])
    session = runs.server.get_json(f"/sessions/{result['trace_id']}")
    assert (session["agent_name"], session["status"]) == ("writer", "completed")
    assert session["metadata"] == {"tags": ["nightly", "sdk-e2e"]}
    assert (session["total_tokens_in"], session["total_tokens_out"]) == (0, 0)
    assert session["started_at"] <= session["ended_at"]
    found = events_by_type(session)
    assert sorted(found) == ["agent_call", "log", "session", "task", "tool_call"]
    [root], [agent], [task], [tool], [log] = (found[t] for t in (
        "session", "agent_call", "task", "tool_call", "log"))
    assert [root["parent_id"], agent["parent_id"], task["parent_id"], tool["parent_id"]] == [
        None, root["event_id"], agent["event_id"], task["event_id"]]
    assert root["metadata"]["span_name"] == "nightly-run.session"
    assert root["metadata"]["resource"]["service.name"] == "agentops"
    assert agent["metadata"]["span_name"] == "writer.agent"
    assert task["input_data"] == {"input": {"args": ["autumn"], "kwargs": {}}}
    assert task["output_data"] == {"output": result["text"]} == {"output": "autumn: 5 syllables"}
    assert tool["tool_call"] == {"name": "calculator", "input": {"args": [2, 3], "kwargs": {}},
                                 "output": 5}
    assert log["output_data"]["text"].endswith(LOG_LINE)
    assert log["event_id"].startswith("log:")


def test_a_trace_ended_fail(runs):
    session = runs.server.get_json(f"/sessions/{runs.results['fail']['trace_id']}")
    assert (session["agent_name"], session["status"]) == ("writer", "error")
    assert sorted(events_by_type(session)) == ["agent_call", "log", "session", "task", "tool_call"]


def test_a_trace_ended_by_default(runs):
    """end_trace(trace) sends no end state (the SDK's enum is dropped): it completed."""
    session = runs.server.get_json(f"/sessions/{runs.results['default']['trace_id']}")
    assert (session["agent_name"], session["status"]) == ("writer", "completed")
    assert session["started_at"] <= session["ended_at"]
    [root] = events_by_type(session)["session"]
    assert "attributes" not in root["metadata"]


def test_a_refused_key_stores_nothing(runs):
    result = runs.results["wrong_key"]
    assert result["token"] is False
    assert runs.server.get(f"/sessions/{result['trace_id']}").status_code == 404
    assert runs.server.get_json("/sessions")["total"] == 3


def test_explain_compare_and_analytics(runs):
    success, fail = runs.results["success"]["trace_id"], runs.results["fail"]["trace_id"]
    explanation = runs.server.get_json(f"/sessions/{success}/explain")["explanation"]
    timeline = explanation.split("### Timeline\n\n")[1].split("\n\n")[0].splitlines()
    assert [line.split(" (")[0].split(" — ")[0] for line in timeline] == [
        "1. **session**", "   - **agent\\_call**", "     - **task**",
        "       - **Tool call** calculator", "2. **log**"]
    assert timeline[3].endswith(' — input: `{"args":[2,3],"kwargs":{}}`; output: `5`')
    assert timeline[4].startswith("2. **log** — output: `")
    assert timeline[4].endswith(" - INFO - drafting a haiku about autumn`")
    assert "- **Events:** 5 (1 agent\\_call, 1 log, 1 session, 1 task, 1 tool\\_call)" in explanation
    compared = runs.server.post_json("/sessions/compare", {"session_a": success, "session_b": fail})
    assert (compared["session_a"]["status"], compared["session_b"]["status"]) == ("completed", "error")
    assert compared["deltas"]["event_count"] == {"absolute": 0, "percent": 0}
    assert compared["shared"]["tools"] == ["calculator"]
    overview = runs.server.get_json("/analytics?agent_name=writer")["overview"]
    assert {key: overview[key] for key in ("total_sessions", "completed_sessions",
                                           "error_sessions", "error_rate", "total_events")} == {
        "total_sessions": 3, "completed_sessions": 2, "error_sessions": 1, "error_rate": 33.33,
        "total_events": 15}
