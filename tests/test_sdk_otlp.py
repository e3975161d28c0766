"""End to end: real OpenTelemetry libraries against a real AgentLens server (gunicorn).

Four SDK runs at once, each in its own process (tests/sdk_scripts), against one server
with an API key, configured the way the README tells users (OTEL_EXPORTER_OTLP_*):
- opentelemetry-sdk's OTLP/HTTP protobuf exporter with GenAI spans written by hand
  (otel_genai_trace.py), gzip-compressed, once batched and once span by span (every
  trace split over requests, its root last);
- opentelemetry-instrumentation-openai-v2 and openinference-instrumentation-openai
  wrapping the real openai client, pointed at a fake OpenAI-compatible server
  (tests/fake_openai.py: a completion with usage and a tool call, then the answer).
Plus an OTLP/JSON body as a collector sends it. The results are read back by value
through GET /sessions/<id>, /explain, POST /sessions/compare and /analytics, and the
format from the database file. Costs are worked out from the providers' published
prices per million tokens: gpt-4o $2.50 input, $1.25 cached input, $10 output;
gpt-4o-mini $0.15 / $0.075 / $0.60; claude-3-5-haiku $0.80 input, $4 output.
"""
import gzip
import json
import sqlite3

import pytest

from fake_openai import ANSWER, MODEL, TOOL_CALL
from server import finish_sdk_script, ingest_native_session, start_sdk_script, start_server

KEY = "otlp-e2e-key"
T0 = "2024-05-05T11:53:20"
SCOPE = {"name": "trip-planner", "version": "1.2.3"}
CONTENT_ON_SPANS = {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
                    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"}


class Runs:
    def __init__(self, server, results):
        self.server, self.results = server, results


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from fake_openai import FakeOpenAI

    server = start_server(tmp_path_factory.mktemp("otlp"), api_key=KEY)
    exporter = {"OTEL_EXPORTER_OTLP_ENDPOINT": server.url,
                "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={KEY}"}
    try:
        with FakeOpenAI() as llm:
            processes = {
                "batch": start_sdk_script("otel_genai_trace.py", "batch", "trip-batch",
                                          server_url=server.url, env={
                                              **exporter, "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}),
                "split": start_sdk_script("otel_genai_trace.py", "simple", "trip-split",
                                          server_url=server.url, env=exporter),
                "openai-v2": start_sdk_script("openai_traced.py", llm.url, "openai-v2", "w-v2",
                                              server_url=server.url, also_allow=[llm.url],
                                              env={**exporter, **CONTENT_ON_SPANS}),
                "openinference": start_sdk_script("openai_traced.py", llm.url, "openinference",
                                                  "w-oi", server_url=server.url,
                                                  also_allow=[llm.url], env=exporter),
            }
            results = {name: finish_sdk_script(process) for name, process in processes.items()}
        yield Runs(server, results)
    finally:
        server.stop()


def stamp(ms):
    seconds, ms = divmod(ms, 1000)
    minutes, seconds = divmod(20 + seconds, 60)
    return f"2024-05-05T11:{53 + minutes:02d}:{seconds:02d}.{ms:03d}Z"


def stored(server, event_id):
    with sqlite3.connect(server.database) as db:
        row = db.execute("SELECT provider, cache_read_tokens, reasoning_tokens, source "
                         "FROM events WHERE event_id = ?", (event_id,)).fetchone()
    db.close()
    return row


INPUT = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Rome?"}]}]
OUTPUT = [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
    {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Rome"}}]}]


def expected_trip(session_id, result):
    """GET /sessions/<id> of otel_genai_trace.py's two traces, from the script's own data."""
    spans = result["spans"]

    def event(name, event_type, at, duration, parent="run", kind="internal", span_name=None,
              attributes=None, trace="run_trace", **fields):
        metadata = {"span_name": span_name or "chat gpt-4o", "span_kind": kind}
        if attributes:
            metadata["attributes"] = attributes
        metadata.update(resource=result["resource"], scope=SCOPE)
        return {"event_id": spans[name], "session_id": session_id, "event_type": event_type,
                "timestamp": stamp(at), "parent_id": parent and spans[parent],
                "trace_id": result[trace], "model": None,
                "provider": None, "tokens_in": None, "tokens_out": None,
                "cache_read_tokens": None, "cache_write_tokens": None, "reasoning_tokens": None,
                "cost_usd": None, "duration_ms": duration,
                "input_data": None, "output_data": None, "tool_call": None,
                "decision_trace": None, **fields, "metadata": metadata}

    return {
        "session_id": session_id, "agent_name": "planner", "started_at": f"{T0}.000Z",
        "ended_at": None, "metadata": {}, "total_tokens_in": 335, "total_tokens_out": 70,
        "total_cost_usd": 0.001413, "cost_complete": True,   # 475 + 37.5 + 900 µ$
        "status": "active", "events": [
            event("run", "agent_call", 0, 2000.0, parent=None, span_name="invoke_agent planner"),
            # 20 plain x 2.5 + 100 cached x 1.25 + 30 x 10 = 475 µ$
            event("chat", "llm_call", 5, 1500.0, kind="client", model="gpt-4o-2024-08-06",
                  provider="openai", tokens_in=120, tokens_out=30, cache_read_tokens=100,
                  cost_usd=0.000475, input_data={"messages": INPUT},
                  output_data={"messages": OUTPUT}, attributes={"gen_ai.request.model": "gpt-4o"}),
            event("tool", "tool_call", 1600, 250.0, span_name="execute_tool get_weather",
                  tool_call={"name": "get_weather", "input": {"city": "Rome"},
                             "output": {"temp": 25}, "call_id": "call_1"}),
            event("failed", "llm_call_error", 1900, 50.0, kind="client", model="gpt-4o",
                  tokens_in=15, cost_usd=0.000038,   # 15 x 2.5 = 37.5 µ$
                  output_data={"error": "upstream timeout",
                                             "error_type": "TimeoutError"}),
            event("follow_up", "llm_call", 60_000, 400.0, parent=None, kind="client",
                  trace="follow_up_trace",
                  model="gpt-4o", tokens_in=200, tokens_out=40, cost_usd=0.0009),
        ]}


def test_hand_written_genai_spans(runs):
    result = runs.results["batch"]
    assert runs.server.get_json("/sessions/trip-batch") == expected_trip("trip-batch", result)
    assert stored(runs.server, result["spans"]["chat"]) == ("openai", 100, None, "otlp")
    for trace in (result["run_trace"], result["follow_up_trace"]):
        assert runs.server.get(f"/sessions/{trace}").status_code == 404


def test_a_trace_exported_span_by_span_root_last_is_the_same_session(runs):
    result = runs.results["split"]
    assert runs.server.get_json("/sessions/trip-split") == expected_trip("trip-split", result)
    compared = runs.server.post_json("/sessions/compare",
                                     {"session_a": "trip-batch", "session_b": "trip-split"})
    assert all(delta["absolute"] == 0 for delta in compared["deltas"].values()), compared["deltas"]


def test_explain_nests_agent_llm_and_tool(runs):
    out = json.dumps({"messages": OUTPUT}, ensure_ascii=False, separators=(",", ":"))
    assert runs.server.get_json("/sessions/trip-batch/explain")["explanation"] == "\n".join([
        "## Agent Session: planner",
        "**Duration:** 60.0s",
        "**Status:** active",
        "**Tokens:** 335 in / 70 out (405 total)",
        "",
        "### Timeline",
        "",
        "1. **agent\\_call** (2000 ms)",
        "   - **LLM call** gpt-4o-2024-08-06 (120 in / 30 out tokens, 1500 ms) — prompt: "
        f"`{json.dumps(INPUT, separators=(',', ':'))}`; response: `{out[:120]}…`",
        "   - **Tool call** get\\_weather (250 ms) — input: `{\"city\":\"Rome\"}`; "
        "output: `{\"temp\":25}`",
        "   - **llm\\_call\\_error** gpt-4o (15 in / 0 out tokens, 50 ms) — `upstream timeout`",
        "2. **LLM call** gpt-4o (200 in / 40 out tokens, 400 ms)",
        "",
        "### Summary",
        "",
        "- **Events:** 5 (2 llm\\_call, 1 agent\\_call, 1 llm\\_call\\_error, 1 tool\\_call)",
        "- **Errors:** 1",
        "- **Tokens:** 405 total (335 in / 70 out)",
        "- **Cost:** $0.001413",
        "- **Status:** active",
    ]) + "\n"


def test_compare_with_a_native_session(runs):
    ingest_native_session(runs.server, "native-1")
    compared = runs.server.post_json("/sessions/compare",
                                     {"session_a": "trip-batch", "session_b": "native-1"})
    a = compared["session_a"]
    assert {key: a[key] for key in (
        "agent_name", "status", "tokens_in", "tokens_out", "total_tokens", "event_count",
        "error_count", "total_processing_ms", "avg_event_duration_ms", "session_duration_ms",
        "models", "event_types", "tools", "metadata")} == {
        "agent_name": "planner", "status": "active", "tokens_in": 335, "tokens_out": 70,
        "total_tokens": 405, "event_count": 5, "error_count": 1,
        "total_processing_ms": 4200, "avg_event_duration_ms": 840, "session_duration_ms": 60000,
        "models": {"gpt-4o-2024-08-06": {"calls": 1, "tokens_in": 120, "tokens_out": 30,
                                         "cost_usd": 0.000475},
                   "gpt-4o": {"calls": 2, "tokens_in": 215, "tokens_out": 40,
                              "cost_usd": 0.000938}},   # 37.5 + 900 µ$
        "event_types": {"agent_call": 1, "llm_call": 2, "tool_call": 1, "llm_call_error": 1},
        "tools": {"get_weather": {"calls": 1, "total_duration": 250}}, "metadata": {}}
    assert compared["deltas"]["total_tokens"] == {"absolute": 30 - 405, "percent": -92.59}
    assert compared["deltas"]["event_count"] == {"absolute": -2, "percent": -40}
    assert compared["shared"] == {  # the trace's names in the order it lists them, then native-1's
        "event_types": ["agent_call", "llm_call", "tool_call", "llm_call_error"],
        "tools": ["get_weather", "calculator"],
        "models": ["gpt-4o-2024-08-06", "gpt-4o", "gpt-4o-mini"]}


def test_analytics_of_the_hand_written_traces(runs):
    figures = runs.server.get_json("/analytics?agent_name=planner")
    assert figures["overview"] == {
        "total_sessions": 2, "active_sessions": 2, "completed_sessions": 0, "error_sessions": 0,
        "error_rate": 0, "total_events": 10, "total_tokens": 810, "total_tokens_in": 670,
        "total_tokens_out": 140, "avg_tokens_per_session": 405,
        "total_cost_usd": 0.002825,   # two trips of 1412.5 µ$
        "earliest_session": f"{T0}.000Z", "latest_session": f"{T0}.000Z"}
    assert [{key: row[key] for key in ("model", "call_count", "total_tokens_in",
                                       "total_tokens_out", "avg_duration_ms", "cost_usd")}
            for row in figures["model_usage"]] == [
        {"model": "gpt-4o", "call_count": 4, "total_tokens_in": 430, "total_tokens_out": 80,
         "avg_duration_ms": 225, "cost_usd": 0.001875},        # 2 x 937.5 µ$
        {"model": "gpt-4o-2024-08-06", "call_count": 2, "total_tokens_in": 240,
         "total_tokens_out": 60, "avg_duration_ms": 1500, "cost_usd": 0.00095}]
    assert figures["event_types"] == [
        {"event_type": "llm_call", "count": 4}, {"event_type": "agent_call", "count": 2},
        {"event_type": "llm_call_error", "count": 2}, {"event_type": "tool_call", "count": 2}]
    assert figures["top_agents"] == [
        {"agent_name": "planner", "session_count": 2, "total_tokens": 810, "avg_tokens": 405,
         "total_cost_usd": 0.002825}]
    assert figures["unpriced_models"] == []
    assert figures["hourly_activity"] == [{"hour": 11, "event_count": 10}]


def instrumented_session(runs, session_id):
    found = runs.server.get_json(f"/sessions/{session_id}")
    assert (found["agent_name"], found["total_tokens_in"], found["total_tokens_out"]) == (
        "weather-agent", 42 + 60, 7 + 8)
    by_type = {}
    for event in found["events"]:
        by_type.setdefault(event["event_type"], []).append(event)
    [agent], [tool], llm_calls = by_type["agent_call"], by_type["tool_call"], by_type["llm_call"]
    assert sorted(by_type) == ["agent_call", "llm_call", "tool_call"]
    assert agent["parent_id"] is None
    assert [e["parent_id"] for e in [tool, *llm_calls]] == [agent["event_id"]] * 3
    first, second = sorted(llm_calls, key=lambda e: e["tokens_in"])
    assert [(e["model"], e["tokens_in"], e["tokens_out"]) for e in (first, second)] == [
        (MODEL, 42, 7), (MODEL, 60, 8)]
    assert tool["tool_call"]["input"] == {"city": "Rome"}
    assert tool["tool_call"]["output"] == {"temp": 25, "city": "Rome"}
    return first, second, tool


def test_opentelemetry_instrumentation_openai_v2(runs):
    assert runs.results["openai-v2"]["answer"] == ANSWER
    first, second, tool = instrumented_session(runs, "w-v2")
    assert tool["tool_call"] == {"name": "get_weather", "input": {"city": "Rome"},
                                 "output": {"temp": 25, "city": "Rome"}, "call_id": "call_w1"}
    arguments = json.loads(TOOL_CALL["function"]["arguments"])
    assert first["input_data"] == {"messages": [
        {"role": "system", "parts": [{"content": "Be brief.", "type": "text"}]},
        {"role": "user", "parts": [{"content": "Weather in Rome?", "type": "text"}]}]}
    assert first["output_data"] == {"messages": [
        {"role": "assistant", "finish_reason": "tool_calls", "parts": [
            {"arguments": arguments, "name": "get_weather", "id": "call_w1", "type": "tool_call"}]}]}
    assert second["output_data"] == {"messages": [
        {"role": "assistant", "finish_reason": "stop",
         "parts": [{"content": ANSWER, "type": "text"}]}]}
    assert first["metadata"]["span_kind"] == "client"
    assert first["metadata"]["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert stored(runs.server, first["event_id"]) == ("openai", None, None, "otlp")
    # no cached tokens on these spans: 42 x 0.15 + 7 x 0.6 = 10.5 µ$
    assert first["cost_usd"] == 0.000011


def test_openinference_instrumentation_openai(runs):
    assert runs.results["openinference"]["answer"] == ANSWER
    first, second, tool = instrumented_session(runs, "w-oi")
    assert tool["tool_call"] == {"name": "get_weather", "input": {"city": "Rome"},
                                 "output": {"temp": 25, "city": "Rome"}}
    assert first["input_data"]["messages"] == [{"role": "system", "content": "Be brief."},
                                               {"role": "user", "content": "Weather in Rome?"}]
    assert first["output_data"]["messages"] == [{"role": "assistant", "tool_calls": [
        {"id": "call_w1", "function": {"name": "get_weather",
                                       "arguments": TOOL_CALL["function"]["arguments"]}}]}]
    assert second["output_data"]["messages"] == [{"role": "assistant", "content": ANSWER}]
    assert first["output_data"]["output"]["usage"]["total_tokens"] == 49  # output.value, JSON
    assert stored(runs.server, first["event_id"]) == ("openai", 10, 3, "otlp")
    # 10 of the 42 cached: 32 x 0.15 + 10 x 0.075 + 7 x 0.6 = 9.75 µ$
    assert first["cost_usd"] == 0.00001


def test_a_collectors_json_export(runs):
    """What an OpenTelemetry Collector's otlphttp exporter sends with encoding json and
    gzip: ids in hex, enums as numbers, 64-bit integers as strings."""
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "collector-fed"}}]},
        "scopeSpans": [{"scope": {"name": "lib"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "chat claude", "kind": 3, "startTimeUnixNano": "1714910000000000000",
            "endTimeUnixNano": "1714910000750000000", "status": {},
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.response.model", "value": {"stringValue": "claude-3-5-haiku"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "900"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "100"}},
                {"key": "gen_ai.conversation.id", "value": {"stringValue": "collected-1"}}]}]}]}]}
    response = runs.server.http.post(
        runs.server.url + "/v1/traces", data=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip",
                 "Authorization": f"Bearer {KEY}"}, timeout=10)
    assert (response.status_code, response.json()) == (200, {})
    found = runs.server.get_json("/sessions/collected-1")
    assert (found["total_tokens_in"], found["total_tokens_out"]) == (900, 100)
    assert found["total_cost_usd"] == 0.00112   # 900 x 0.8 + 100 x 4 = 1120 µ$
    [event] = found["events"]
    assert (event["event_type"], event["model"], event["duration_ms"], event["timestamp"]) == (
        "llm_call", "claude-3-5-haiku", 750.0, f"{T0}.000Z")
    assert event["metadata"]["resource"] == {"service.name": "collector-fed"}
