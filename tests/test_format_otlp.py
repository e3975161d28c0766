"""The OTLP mapping, in process with the Flask test client: hand-made spans in each
attribute family (GenAI conventions new and old, OpenLLMetry, OpenInference, AgentOps)
posted as protobuf to ``/v1/traces``, read back by value through GET /sessions/<id>
and, for the trace and the format, from the database. Every expected value is
written out from what the test sends; costs from the providers' published prices
per million tokens: gpt-4o $2.50 input, $1.25 cached input, $10 output; gpt-4o-mini
$0.15 / $0.075 / $0.60 (a cache write, which neither prices, is billed as input).
The sessions of split and retried traces, and rejected spans, are in
test_otlp_sessions.py; the HTTP layer in test_otlp_routes.py.
"""
import json

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from helpers import freeze_server_clock, read_json, read_session, session
from otlp_builder import export, response_of, span

NOW = "2024-05-05T12:00:00.000Z"
NOW_MS = 1714910400000
T0 = "2024-05-05T11:53:20"  # the builder's T0
TRACE = "0af7651916cd43dd8448eb211c80319c"
ROOT, CHAT = "b7ad6b7169203331", "00f067aa0ba902b7"
TOOL, OTHER = "a1b2c3d4e5f60718", "0102030405060708"
RESOURCE = {"service.name": "trip-planner", "deployment.environment": "test"}
SCOPE = {"name": "tests", "version": "1.0"}
ERROR, OK = Status.STATUS_CODE_ERROR, Status.STATUS_CODE_OK


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    freeze_server_clock(monkeypatch, NOW_MS)


def post(client, *spans, resource=RESOURCE):
    response = client.post("/v1/traces", data=export(list(spans), resource).SerializeToString(),
                           content_type="application/x-protobuf")
    assert not response_of(response).HasField("partial_success")


def event(event_id, event_type, at, *, session_id=TRACE, parent=None, duration=10.0,
          span_name, kind="internal", attributes=None, resource=RESOURCE, **fields):
    """An event as GET /sessions/<id> returns it; ``at`` in ms after T0."""
    metadata = {"span_name": span_name, "span_kind": kind}
    if attributes:
        metadata["attributes"] = attributes
    metadata.update(fields.pop("metadata", {}))
    if resource:
        metadata["resource"] = resource
    metadata["scope"] = SCOPE
    return {"event_id": event_id, "session_id": session_id, "event_type": event_type,
            "timestamp": stamp(at), "parent_id": parent, "trace_id": TRACE,
            "model": None, "provider": None, "tokens_in": None, "tokens_out": None,
            "cache_read_tokens": None, "cache_write_tokens": None, "reasoning_tokens": None,
            "cost_usd": None, "duration_ms": duration,
            "input_data": None, "output_data": None, "tool_call": None, "decision_trace": None,
            **fields, "metadata": metadata}


def stamp(at):
    seconds, ms = divmod(at, 1000)
    return f"2024-05-05T11:53:{20 + seconds:02d}.{ms:03d}Z"


def stored(conn, event_id):
    """What the span's tokens and provider are stored as, with its trace and format."""
    row = conn.execute("SELECT provider, cache_read_tokens, cache_write_tokens, reasoning_tokens, "
                       "trace_id, source FROM events WHERE event_id = ?", (event_id,)).fetchone()
    return tuple(row)


# ---------------------------------------------------------------------------
# The GenAI semantic conventions as they are now.

INPUT_MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Rome?"}]}]
OUTPUT_MESSAGES = [{"role": "assistant", "finish_reason": "stop",
                    "parts": [{"type": "text", "content": "Sunny, 25 °C."}]}]
SYSTEM = [{"type": "text", "content": "You plan trips."}]


def genai_spans():
    return [
        span(TRACE, ROOT, "invoke_agent planner", duration_ms=2000, attrs={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
            "gen_ai.conversation.id": "conv-42"}),
        span(TRACE, CHAT, "chat gpt-4o", parent=ROOT, start_ms=5, duration_ms=1500,
             kind=Span.SPAN_KIND_CLIENT, attrs={
                 "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                 "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                 "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
                 "gen_ai.usage.cache_read.input_tokens": 100,
                 "gen_ai.usage.cache_creation.input_tokens": 20,
                 "gen_ai.usage.reasoning.output_tokens": 12,
                 "gen_ai.input.messages": json.dumps(INPUT_MESSAGES),
                 "gen_ai.output.messages": json.dumps(OUTPUT_MESSAGES),
                 "gen_ai.system_instructions": json.dumps(SYSTEM),
                 "gen_ai.request.temperature": 0.2, "gen_ai.response.finish_reasons": ["stop"],
                 "server.address": "api.openai.com"}),
        span(TRACE, TOOL, "execute_tool get_weather", parent=ROOT, start_ms=1600, duration_ms=250,
             attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                    "gen_ai.tool.call.id": "call_1", "gen_ai.tool.type": "function",
                    "gen_ai.tool.call.arguments": '{"city": "Rome"}',
                    "gen_ai.tool.call.result": '{"temp": 25}'}),
    ]


def test_genai_agent_chat_and_tool_spans(client, conn):
    post(client, *genai_spans())
    assert read_session(client, "conv-42") == session(
        # 20 plain input (and cache write) x 2.5 + 100 cached x 1.25 + 30 out x 10 = 475 µ$
        "conv-42", "planner", f"{T0}.000Z", {}, tokens_in=120, tokens_out=30, cost_usd=0.000475,
        events=[
            event(ROOT, "agent_call", 0, session_id="conv-42", duration=2000.0,
                  span_name="invoke_agent planner"),
            event(CHAT, "llm_call", 5, session_id="conv-42", parent=ROOT, duration=1500.0,
                  span_name="chat gpt-4o", kind="client", model="gpt-4o-2024-08-06",
                  tokens_in=120, tokens_out=30, provider="openai", cache_read_tokens=100,
                  cache_write_tokens=20, reasoning_tokens=12, cost_usd=0.000475,
                  input_data={"messages": INPUT_MESSAGES, "system_instructions": SYSTEM},
                  output_data={"messages": OUTPUT_MESSAGES},
                  attributes={"gen_ai.request.model": "gpt-4o", "gen_ai.request.temperature": 0.2,
                              "gen_ai.response.finish_reasons": ["stop"],
                              "server.address": "api.openai.com"}),
            event(TOOL, "tool_call", 1600, session_id="conv-42", parent=ROOT, duration=250.0,
                  span_name="execute_tool get_weather",
                  tool_call={"name": "get_weather", "input": {"city": "Rome"},
                             "output": {"temp": 25}, "call_id": "call_1"},
                  attributes={"gen_ai.tool.type": "function"}),
        ])
    assert stored(conn, CHAT) == ("openai", 100, 20, 12, TRACE, "otlp")
    assert stored(conn, TOOL) == (None, None, None, None, TRACE, "otlp")


def test_an_agents_run_totals_are_not_counted_again(client):
    """pydantic-ai (and n8n, Strands) put the run's cumulative usage and its model on the
    invoke_agent span, above the chat spans that carry each call's: a session counts each
    call once, and the agent span keeps what it said as attributes."""
    agent_usage = {"gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "openai",
                   "gen_ai.usage.input_tokens": 300, "gen_ai.usage.output_tokens": 50}
    post(client,
         span(TRACE, ROOT, "invoke_agent planner", duration_ms=2000, attrs={
             "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
             "gen_ai.conversation.id": "run-totals", **agent_usage}),
         span(TRACE, CHAT, "chat gpt-4o", parent=ROOT, start_ms=5, attrs={
             "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
             "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20}),
         span(TRACE, OTHER, "chat gpt-4o", parent=ROOT, start_ms=50, attrs={
             "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
             "gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 30}))
    found = read_session(client, "run-totals")
    assert (found["total_tokens_in"], found["total_tokens_out"]) == (300, 50)
    # 300 x $2.50 + 50 x $10 per million = 1250 µ$
    assert found["total_cost_usd"] == 0.00125
    agent = found["events"][0]
    assert (agent["event_type"], agent["model"], agent["tokens_in"], agent["cost_usd"]) == (
        "agent_call", None, None, None)
    assert agent["metadata"]["attributes"] == agent_usage
    usage = read_json(client, "/analytics")["model_usage"]
    assert [(m["model"], m["call_count"], m["total_tokens"]) for m in usage] == [("gpt-4o", 2, 350)]


def test_a_remote_agents_usage_is_counted(client):
    """A client invoke_agent span calls an agent elsewhere (Bedrock, OpenAI Assistants):
    no call of it is in the trace, so its own model and usage are the session's."""
    post(client, span(TRACE, ROOT, "invoke_agent support", kind=Span.SPAN_KIND_CLIENT, attrs={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "remote",
        "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100}))
    found = read_session(client, "remote")
    assert (found["total_tokens_in"], found["total_tokens_out"]) == (1000, 100)
    assert found["total_cost_usd"] == 0.0035   # 1000 x $2.50 + 100 x $10 per million
    assert found["events"][0]["model"] == "gpt-4o"


def test_messages_on_a_span_event(client):
    details = {"gen_ai.input.messages": json.dumps(INPUT_MESSAGES),
               "gen_ai.output.messages": json.dumps(OUTPUT_MESSAGES)}
    post(client, span(TRACE, CHAT, "chat gpt-4o", attrs={"gen_ai.operation.name": "chat"}, events=[
        ("gen_ai.client.inference.operation.details", 9, details),
        ("retry", 3, {"attempt": 2}),
        ("gen_ai.evaluation.result", 9, {**details, "gen_ai.evaluation.score.value": 0.9})]))
    [found] = read_session(client, TRACE)["events"]
    assert found["input_data"] == {"messages": INPUT_MESSAGES}
    assert found["output_data"] == {"messages": OUTPUT_MESSAGES}
    # The details event held only what was mapped; the others stay, the evaluation
    # with its own messages (the span's came from the first event that had them).
    assert found["metadata"]["events"] == [
        {"name": "retry", "time": f"{T0}.003Z", "attributes": {"attempt": 2}},
        {"name": "gen_ai.evaluation.result", "time": f"{T0}.009Z",
         "attributes": {**details, "gen_ai.evaluation.score.value": 0.9}}]


def test_the_whole_prompt_and_completion_of_the_older_conventions(client):
    """Before 1.28 the conventions (and OpenLIT) put the whole prompt and completion, JSON
    text, on gen_ai.content.prompt / gen_ai.content.completion span events, or on the span."""
    prompt = [{"role": "user", "content": "Weather in Rome?"}]
    completion = [{"role": "assistant", "content": "Sunny."}]
    post(client,
         span(TRACE, CHAT, "chat gpt-4o", attrs={"gen_ai.operation.name": "chat"}, events=[
             ("gen_ai.content.prompt", 1, {"gen_ai.prompt": json.dumps(prompt)}),
             ("gen_ai.content.completion", 9, {"gen_ai.completion": json.dumps(completion)})]),
         span(TRACE, OTHER, "chat gpt-4o", start_ms=20, attrs={
             "gen_ai.operation.name": "chat", "gen_ai.prompt": "plain text prompt",
             "gen_ai.completion": json.dumps(completion)}))
    first, second = read_session(client, TRACE)["events"]
    assert (first["input_data"], first["output_data"]) == (
        {"messages": prompt}, {"messages": completion})
    assert "events" not in first["metadata"]
    assert (second["input_data"], second["output_data"]) == (
        {"messages": "plain text prompt"}, {"messages": completion})
    assert "attributes" not in second["metadata"]


# ---------------------------------------------------------------------------
# The older GenAI names, as OpenLLMetry (traceloop) and AgentOps 0.4 send them.

def test_older_genai_names_and_openllmetry_spans(client, conn):
    post(client,
         span(TRACE, ROOT, "trip.workflow", duration_ms=900, attrs={
             "traceloop.span.kind": "workflow", "traceloop.entity.name": "trip",
             "traceloop.entity.input": '{"args": ["Rome"], "kwargs": {}}',
             "traceloop.entity.output": '"done"', "session.id": "tl-1"}),
         span(TRACE, CHAT, "openai.chat", parent=ROOT, start_ms=10, duration_ms=600, attrs={
             "llm.request.type": "chat", "gen_ai.system": "openai",
             "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.prompt_tokens": 50,
             "gen_ai.usage.completion_tokens": 10, "gen_ai.usage.cache_read_input_tokens": 40,
             "gen_ai.usage.cache_creation_input_tokens": 5, "gen_ai.usage.reasoning_tokens": 2,
             "llm.usage.total_tokens": 60,
             "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "You plan trips.",
             "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "Rome?",
             "gen_ai.completion.0.role": "assistant",
             "gen_ai.completion.0.finish_reason": "tool_calls",
             "gen_ai.completion.0.tool_calls.0.id": "call_9",
             "gen_ai.completion.0.tool_calls.0.name": "get_weather",
             "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Rome"}'}),
         span(TRACE, TOOL, "get_weather.tool", parent=ROOT, start_ms=700, duration_ms=50, attrs={
             "traceloop.span.kind": "tool", "traceloop.entity.name": "get_weather",
             "traceloop.entity.input": '{"args": [], "kwargs": {"city": "Rome"}}',
             "traceloop.entity.output": '{"temp": 25}'}))
    events = read_session(client, "tl-1")["events"]
    assert events == [
        event(ROOT, "workflow", 0, session_id="tl-1", duration=900.0, span_name="trip.workflow",
              input_data={"input": {"args": ["Rome"], "kwargs": {}}},
              output_data={"output": "done"},
              attributes={"traceloop.entity.name": "trip"}),
        event(CHAT, "llm_call", 10, session_id="tl-1", parent=ROOT, duration=600.0,
              span_name="openai.chat", model="gpt-4o-mini", tokens_in=50, tokens_out=10,
              provider="openai", cache_read_tokens=40, cache_write_tokens=5, reasoning_tokens=2,
              # 10 plain x 0.15 + 40 cached x 0.075 + 10 out x 0.6 = 10.5 µ$, shown 0.000011
              cost_usd=0.000011,
              input_data={"messages": [{"role": "system", "content": "You plan trips."},
                                       {"role": "user", "content": "Rome?"}]},
              output_data={"messages": [{"role": "assistant", "finish_reason": "tool_calls",
                                         "tool_calls": [{"id": "call_9", "name": "get_weather",
                                                         "arguments": '{"city": "Rome"}'}]}]},
              attributes={"llm.usage.total_tokens": 60}),
        event(TOOL, "tool_call", 700, session_id="tl-1", parent=ROOT, duration=50.0,
              span_name="get_weather.tool",
              tool_call={"name": "get_weather", "input": {"args": [], "kwargs": {"city": "Rome"}},
                         "output": {"temp": 25}}),
    ]
    assert stored(conn, CHAT)[:4] == ("openai", 40, 5, 2)


def test_cache_reported_beside_the_input_is_added_to_it(client, conn):
    """Anthropic's API (and instrumentations that pass its usage on) counts cached input
    outside input_tokens: the span is stored with all of it, not refused."""
    post(client, span(TRACE, CHAT, "chat claude", duration_ms=100, attrs={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4", "session.id": "anthropic-1",
        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.cache_read_input_tokens": 100,
        "gen_ai.usage.cache_creation_input_tokens": 20}))
    (stored_event,) = read_session(client, "anthropic-1")["events"]
    assert (stored_event["tokens_in"], stored_event["cache_read_tokens"],
            stored_event["cache_write_tokens"], stored_event["tokens_out"]) == (130, 100, 20, 50)
    # 10 x $3 + 100 cached x $0.30 + 20 written x $3.75 + 50 out x $15 per million = 885 µ$
    assert stored_event["cost_usd"] == 0.000885


def test_reasoning_reported_beside_the_output_is_added_to_it(client, conn):
    """Gemini counts thoughts outside its output tokens: the span is stored with both,
    not refused for a reasoning count larger than the output."""
    post(client, span(TRACE, CHAT, "chat gemini", attrs={
        "gen_ai.operation.name": "chat", "session.id": "gemini-1",
        "gen_ai.request.model": "gemini-2.5-pro", "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5, "gen_ai.usage.reasoning.output_tokens": 20}),
         span(TRACE, TOOL, "chat gemini", start_ms=20, attrs={
        "gen_ai.operation.name": "chat", "gen_ai.usage.reasoning_tokens": 7}))
    found = read_session(client, "gemini-1")
    assert [(e["tokens_in"], e["tokens_out"], e["reasoning_tokens"]) for e in found["events"]] == [
        (10, 25, 20), (None, 7, 7)]
    assert (found["total_tokens_in"], found["total_tokens_out"]) == (10, 32)


def test_agentops_spans(client):
    """AgentOps 0.4: ``<name>.<kind>`` spans under a ``<trace name>.session`` root; the
    agent names the session, the root's tags and end state describe it."""
    post(client,
         span(TRACE, ROOT, "nightly-run.session", duration_ms=3000, attrs={
             "agentops.span.kind": "session", "operation.name": "nightly-run",
             "agentops.tags": ["nightly", "v2"], "agentops.session.end_state": "Fail"}),
         span(TRACE, OTHER, "Writer.agent", parent=ROOT, start_ms=1, duration_ms=2000, attrs={
             "agentops.span.kind": "agent", "operation.name": "Writer",
             "agentops.entity.input": '{"args": [], "kwargs": {}}'}),
         span(TRACE, CHAT, "openai.chat.completion", parent=OTHER, start_ms=2, attrs={
             "agentops.span.kind": "llm", "gen_ai.request.model": "gpt-4o",
             "gen_ai.usage.prompt_tokens": 8, "gen_ai.usage.completion_tokens": 3,
             "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Hi",
             "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "Hello"}),
         span(TRACE, TOOL, "calc.tool", parent=OTHER, start_ms=20, attrs={
             "agentops.span.kind": "tool", "operation.name": "calc",
             "agentops.tool.input": '{"args": [1, 2], "kwargs": {}}', "agentops.tool.output": "3"}))
    assert read_session(client, TRACE) == session(
        TRACE, "Writer", f"{T0}.000Z", {"tags": ["nightly", "v2"]}, ended_at=stamp(3000),
        status="error", tokens_in=8, tokens_out=3, cost_usd=0.00005, events=[  # 20 + 30 µ$
            event(ROOT, "session", 0, duration=3000.0, span_name="nightly-run.session"),
            event(OTHER, "agent_call", 1, parent=ROOT, duration=2000.0, span_name="Writer.agent",
                  input_data={"input": {"args": [], "kwargs": {}}}),
            event(CHAT, "llm_call", 2, parent=OTHER, span_name="openai.chat.completion",
                  model="gpt-4o", tokens_in=8, tokens_out=3, cost_usd=0.00005,
                  input_data={"messages": [{"role": "user", "content": "Hi"}]},
                  output_data={"messages": [{"role": "assistant", "content": "Hello"}]}),
            event(TOOL, "tool_call", 20, parent=OTHER, span_name="calc.tool",
                  tool_call={"name": "calc", "input": {"args": [1, 2], "kwargs": {}}, "output": 3}),
        ])


@pytest.mark.parametrize("end_state, status, ended", [
    ("Success", "completed", True), ("Indeterminate", "active", False)])
def test_agentops_end_states(client, end_state, status, ended):
    post(client, span(TRACE, ROOT, "run.session", duration_ms=50, attrs={
        "agentops.span.kind": "session", "agentops.session.end_state": end_state}))
    found = read_session(client, TRACE)
    assert (found["agent_name"], found["status"]) == ("run", status)
    assert found["ended_at"] == (f"{T0}.050Z" if ended else None)
    assert found["events"][0]["metadata"].get("attributes") is None


# ---------------------------------------------------------------------------
# OpenInference.

def test_agentops_trace_ended_without_a_state(client):
    """The SDK's ``end_trace(trace)`` and ``with start_trace(...)`` give enums as the end
    state, which OpenTelemetry drops: the root span comes with none. Ended, it succeeded,
    unless its status says it failed."""
    post(client, span(TRACE, ROOT, "run.session", duration_ms=50, attrs={
        "agentops.span.kind": "session"}),
         span(OTHER * 2, ROOT, "failed-run.session", duration_ms=70, status=(ERROR, "boom"),
              attrs={"agentops.span.kind": "session"}))
    found, failed = read_session(client, TRACE), read_session(client, OTHER * 2)
    assert (found["agent_name"], found["status"], found["ended_at"]) == (
        "run", "completed", f"{T0}.050Z")
    assert (failed["agent_name"], failed["status"], failed["ended_at"]) == (
        "failed-run", "error", f"{T0}.070Z")
    assert [e["event_type"] for e in failed["events"]] == ["session_error"]


@pytest.mark.parametrize("end_state, status, kept", [
    ("TraceState.ERROR", "error", None), ("OK", "completed", None),
    ("StatusCode.UNSET", "active", None), ("Weird", "active", {"agentops.session.end_state": "Weird"}),
    (3, "active", {"agentops.session.end_state": 3})])
def test_agentops_end_states_by_their_enum_names(client, end_state, status, kept):
    """A program may pass TraceState/StatusCode names as text; a state not known leaves
    the session as it was and stays on the span."""
    post(client, span(TRACE, ROOT, "run.session", duration_ms=50, attrs={
        "agentops.span.kind": "session", "agentops.session.end_state": end_state}))
    found = read_session(client, TRACE)
    assert found["status"] == status
    assert found["events"][0]["metadata"].get("attributes") == kept


def test_openllmetry_association_property_names_the_session(client):
    post(client, span(TRACE, ROOT, "workflow.workflow", attrs={
        "traceloop.span.kind": "workflow",
        "traceloop.association.properties.session_id": "chat-42"}),
         span(TRACE, CHAT, "openai.chat", parent=ROOT, start_ms=1, attrs={
        "llm.request.type": "chat", "gen_ai.usage.prompt_tokens": 3}))
    found = read_session(client, "chat-42")
    assert [(e["event_id"], e["event_type"]) for e in found["events"]] == [
        (ROOT, "workflow"), (CHAT, "llm_call")]
    assert found["total_tokens_in"] == 3
    assert "attributes" not in found["events"][0]["metadata"]


@pytest.mark.parametrize("output_attrs, output", [
    ({"output.value": "4"}, 4),
    ({"output.value": "4", "output.mime_type": "text/plain"}, "4"),
    ({"output.value": "four"}, "four")])
def test_a_tools_openinference_values_are_json_unless_their_type_says_otherwise(
        client, output_attrs, output):
    post(client, span(TRACE, TOOL, "add", attrs={
        "openinference.span.kind": "TOOL", "session.id": "oi-tool", "tool.name": "add",
        "input.value": '{"a": 1, "b": 3}', **output_attrs}))
    (found,) = read_session(client, "oi-tool")["events"]
    assert found["tool_call"] == {"name": "add", "input": {"a": 1, "b": 3}, "output": output}
    assert found["metadata"].get("attributes") == (
        {"output.mime_type": "text/plain"} if "output.mime_type" in output_attrs else None)


def test_a_value_over_the_field_cap_costs_its_span_that_value_only(client):
    """1 MiB a field: messages, a tool's result or attributes larger than that are
    dropped with a note; the spans are stored with their tokens, names and outcomes."""
    big = "x" * (2**20 + 1)
    limit = "larger than the 1048576-byte field limit"
    post(client,
         span(TRACE, CHAT, "chat gpt-4o", attrs={
             "gen_ai.operation.name": "chat", "session.id": "big-1",
             "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000,
             "gen_ai.usage.output_tokens": 10,
             "gen_ai.input.messages": json.dumps([{"role": "user", "content": big}]),
             "gen_ai.output.messages": json.dumps(OUTPUT_MESSAGES)}),
         span(TRACE, TOOL, "execute_tool search", start_ms=20, status=(ERROR, "boom"), attrs={
             "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
             "gen_ai.tool.call.id": "call_1", "gen_ai.tool.call.arguments": '{"q": "x"}',
             "gen_ai.tool.call.result": big}),
         span(TRACE, OTHER, "custom", start_ms=30, attrs={"my.blob": big}))
    found = read_session(client, "big-1")
    chat, tool, other = found["events"]
    assert (chat["tokens_in"], chat["tokens_out"], chat["cost_usd"]) == (1000, 10, 0.0026)
    assert chat["input_data"] == {"dropped": f"input_data: {limit}"}
    assert chat["output_data"] == {"messages": OUTPUT_MESSAGES}
    assert (tool["event_type"], tool["tool_call"]) == ("tool_call", {
        "name": "search", "call_id": "call_1", "success": False, "error": "boom",
        "dropped": f"tool_call: {limit}"})
    assert other["metadata"] == {"span_name": "custom", "span_kind": "internal",
                                 "dropped": f"metadata: {limit}"}
    assert (found["total_tokens_in"], found["total_tokens_out"]) == (1000, 10)
    compared = read_json(client, "/sessions/big-1/explain")
    assert "search" in compared["explanation"]


def test_a_failed_tool_whose_message_is_over_the_cap_is_kept(client):
    post(client, span(TRACE, TOOL, "execute_tool search", status=(ERROR, "x" * 2**20), attrs={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
        "session.id": "big-error"}))
    (found,) = read_session(client, "big-error")["events"]
    assert found["tool_call"] == {"name": "search", "success": False,
                                  "dropped": "tool_call: larger than the 1048576-byte field limit"}
    compared = client.post("/sessions/compare", json={"session_a": "big-error",
                                                      "session_b": "big-error"}).get_json()
    assert compared["session_a"]["error_count"] == 1
    assert compared["session_a"]["tools"] == {"search": {"calls": 1, "total_duration": 10}}


def test_spans_of_one_export_are_listed_in_the_order_they_started(client):
    """An exporter sends spans as they end, children first; a trace whose spans all start
    in one millisecond is listed root first, as they started."""
    root = span(TRACE, ROOT, "invoke_agent", duration_ms=5, attrs={"session.id": "same-ms"})
    chat = span(TRACE, CHAT, "chat", parent=ROOT, duration_ms=3)
    tool = span(TRACE, TOOL, "execute_tool", parent=CHAT, duration_ms=1)
    for offset_ns, one in enumerate((root, chat, tool)):
        one.start_time_unix_nano += offset_ns * 300_000  # 0, 0.3 and 0.6 ms after T0
    post(client, tool, chat, root)
    found = read_session(client, "same-ms")
    assert [(e["event_id"], e["parent_id"], e["timestamp"]) for e in found["events"]] == [
        (ROOT, None, f"{T0}.000Z"), (CHAT, ROOT, f"{T0}.000Z"), (TOOL, CHAT, f"{T0}.000Z")]


def test_openinference_spans(client, conn):
    post(client,
         span(TRACE, ROOT, "Planner", duration_ms=800, attrs={
             "openinference.span.kind": "AGENT", "agent.name": "researcher",
             "session.id": "oi-7", "input.value": "plan a trip",
             "output.value": '{"answer": "Go to Rome"}', "output.mime_type": "application/json"}),
         span(TRACE, CHAT, "ChatCompletion", parent=ROOT, start_ms=3, attrs={
             "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini-2024-07-18",
             "llm.provider": "openai", "llm.system": "openai",
             "llm.token_count.prompt": 42, "llm.token_count.completion": 7,
             "llm.token_count.total": 49, "llm.token_count.prompt_details.cache_read": 10,
             "llm.token_count.prompt_details.cache_write": 4,
             "llm.token_count.completion_details.reasoning": 3,
             "llm.input_messages.0.message.role": "user",
             "llm.input_messages.0.message.content": "Weather?",
             "llm.input_messages.0.message.contents.0.message_content.type": "text",
             "llm.output_messages.0.message.role": "assistant",
             "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_w1",
             "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
             "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments":
                 '{"city": "Rome"}'}),
         span(TRACE, TOOL, "get_weather", parent=ROOT, start_ms=400, attrs={
             "openinference.span.kind": "TOOL", "tool.name": "get_weather",
             "tool.description": "Today's weather", "input.value": '{"city": "Rome"}',
             "input.mime_type": "application/json", "output.value": "sunny",
             "output.mime_type": "text/plain"}))
    found = read_session(client, "oi-7")
    assert (found["agent_name"], found["total_tokens_in"], found["total_tokens_out"]) == (
        "researcher", 42, 7)
    assert found["events"] == [
        event(ROOT, "agent_call", 0, session_id="oi-7", duration=800.0, span_name="Planner",
              input_data={"input": "plan a trip"}, output_data={"output": {"answer": "Go to Rome"}}),
        event(CHAT, "llm_call", 3, session_id="oi-7", parent=ROOT, span_name="ChatCompletion",
              model="gpt-4o-mini-2024-07-18", tokens_in=42, tokens_out=7, provider="openai",
              cache_read_tokens=10, cache_write_tokens=4, reasoning_tokens=3,
              # 32 plain x 0.15 + 10 cached x 0.075 + 7 out x 0.6 = 9.75 µ$, shown 0.00001
              cost_usd=0.00001,
              input_data={"messages": [{"role": "user", "content": "Weather?",
                                        "contents": [{"type": "text"}]}]},
              output_data={"messages": [{"role": "assistant", "tool_calls": [
                  {"id": "call_w1", "function": {"name": "get_weather",
                                                 "arguments": '{"city": "Rome"}'}}]}]},
              attributes={"llm.system": "openai", "llm.token_count.total": 49}),
        event(TOOL, "tool_call", 400, session_id="oi-7", parent=ROOT, span_name="get_weather",
              tool_call={"name": "get_weather", "input": {"city": "Rome"}, "output": "sunny"},
              attributes={"tool.description": "Today's weather", "output.mime_type": "text/plain"}),
    ]
    assert stored(conn, CHAT)[:4] == ("openai", 10, 4, 3)


# ---------------------------------------------------------------------------
# Which attribute decides, errors, and what is kept.

@pytest.mark.parametrize("attrs, event_type, kept", [
    ({"gen_ai.operation.name": "chat", "openinference.span.kind": "TOOL"}, "llm_call",
     {"openinference.span.kind": "TOOL"}),
    ({"gen_ai.operation.name": "fine_tune", "openinference.span.kind": "RETRIEVER"}, "retrieval",
     {"gen_ai.operation.name": "fine_tune"}),
    ({"gen_ai.operation.name": "embeddings"}, "embeddings", {}),
    ({"gen_ai.operation.name": "text_completion"}, "llm_call", {}),
    ({"gen_ai.operation.name": "generate_content"}, "llm_call", {}),
    ({"gen_ai.operation.name": "create_agent"}, "agent_call", {}),
    ({"openinference.span.kind": "CHAIN", "traceloop.span.kind": "task"}, "chain",
     {"traceloop.span.kind": "task"}),
    ({"openinference.span.kind": "EMBEDDING"}, "embeddings", {}),
    ({"openinference.span.kind": "UNKNOWN", "traceloop.span.kind": "task"}, "task",
     {"openinference.span.kind": "UNKNOWN"}),
    ({"traceloop.span.kind": "agent", "agentops.span.kind": "task"}, "agent_call",
     {"agentops.span.kind": "task"}),
    ({"agentops.span.kind": "workflow"}, "workflow", {}),
    ({"agentops.span.kind": "http"}, "span", {"agentops.span.kind": "http"}),
    ({"http.method": "GET"}, "span", {"http.method": "GET"}),
])
def test_the_first_family_that_names_a_kind_decides(client, attrs, event_type, kept):
    post(client, span(TRACE, OTHER, "work", attrs=attrs))
    [found] = read_session(client, TRACE)["events"]
    assert found["event_type"] == event_type
    assert found["metadata"].get("attributes", {}) == kept


def test_every_kind_of_value_is_kept_on_the_metadata(client):
    post(client, span(TRACE, OTHER, "odd", kind=Span.SPAN_KIND_CONSUMER,
                      links=[(ROOT * 2, CHAT)], attrs={
                          "text": "x", "flag": True, "count": -3, "ratio": 0.5,
                          "nan": float("nan"), "inf": float("-inf"), "big": float("inf"),
                          "list": ["a", 1, [True]],
                          "map": {"k": {"n": 1}}, "raw": b"\x00\xff", "empty": None,
                          "gen_ai.usage.input_tokens": "12", "gen_ai.usage.output_tokens": -1,
                          "gen_ai.request.model": ""}),
         resource={})
    [found] = read_session(client, TRACE)["events"]
    assert (found["tokens_in"], found["tokens_out"], found["model"]) == (None, None, None)
    assert found["metadata"] == {
        "span_name": "odd", "span_kind": "consumer",
        "attributes": {"text": "x", "flag": True, "count": -3, "ratio": 0.5, "nan": "NaN",
                       "inf": "-Infinity", "big": "Infinity", "list": ["a", 1, [True]],
                       "map": {"k": {"n": 1}},
                       "raw": "AP8=", "empty": None, "gen_ai.usage.input_tokens": "12",
                       "gen_ai.usage.output_tokens": -1, "gen_ai.request.model": ""},
        "links": [{"trace_id": ROOT * 2, "span_id": CHAT}], "scope": SCOPE}


def test_a_failed_llm_call_is_an_error_event(client):
    post(client, span(TRACE, CHAT, "chat gpt-4o", status=(ERROR, "429 Too Many Requests"),
                      attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                             "error.type": "RateLimitError"}))
    [found] = read_session(client, TRACE)["events"]
    assert (found["event_type"], found["model"]) == ("llm_call_error", "gpt-4o")
    assert found["output_data"] == {"error": "429 Too Many Requests", "error_type": "RateLimitError"}
    assert "attributes" not in found["metadata"]


def test_a_failed_tool_call_says_so_in_its_tool_call(client):
    post(client, span(TRACE, TOOL, "execute_tool search", status=(ERROR, ""),
                      events=[("exception", 5, {"exception.type": "TimeoutError",
                                                "exception.message": "no answer in 5 s"})],
                      attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
                             "gen_ai.tool.call.arguments": '{"q": "rome"}'}))
    [found] = read_session(client, TRACE)["events"]
    assert found["event_type"] == "tool_call"
    assert found["tool_call"] == {"name": "search", "input": {"q": "rome"}, "output": None,
                                  "success": False, "error": "no answer in 5 s"}
    assert found["metadata"]["events"] == [{
        "name": "exception", "time": f"{T0}.005Z",
        "attributes": {"exception.type": "TimeoutError", "exception.message": "no answer in 5 s"}}]
    explanation = client.get(f"/sessions/{TRACE}/explain").get_json()["explanation"]
    assert "- **Errors:** 1\n" in explanation


def test_error_type_alone_fails_a_span_and_ok_status_does_not(client):
    post(client, span(TRACE, OTHER, "step", attrs={"error.type": "timeout"}),
         span(TRACE, ROOT, "fine", status=(OK, "")))
    found = {e["event_id"]: e for e in read_session(client, TRACE)["events"]}
    assert found[OTHER]["event_type"] == "span_error"
    assert found[OTHER]["output_data"] == {"error": "timeout", "error_type": "timeout"}
    assert found[ROOT]["event_type"] == "span"


@pytest.mark.parametrize("start_ns, end_ns", [(0, 0), (0, 2_000_000), (999_999, 2_000_000)])
def test_a_span_without_a_start_time_is_stamped_on_arrival(client, start_ns, end_ns):
    """Also one that starts within the first ms of 1970, which its millisecond reads as none:
    then it has no duration either (not one measured from 1970)."""
    unstamped = span(TRACE, OTHER, "x")
    unstamped.start_time_unix_nano, unstamped.end_time_unix_nano = start_ns, end_ns
    post(client, unstamped)
    [found] = read_session(client, TRACE)["events"]
    assert (found["timestamp"], found["duration_ms"]) == (NOW, None)


def agent_span(span_id, name, at, **attrs):
    return span(TRACE, span_id, name, start_ms=at, attrs={
        "gen_ai.operation.name": "invoke_agent", "session.id": "named", **attrs})


@pytest.mark.parametrize("spans, name", [
    # OpenLIT with the OpenAI Agents SDK: a bare invoke_agent span first, then the agent's.
    ([agent_span(ROOT, "invoke_agent", 0),
      agent_span(CHAT, "invoke_agent weather", 5, **{"gen_ai.agent.name": "weather"})], "weather"),
    # OpenInference's Agents SDK bridge: the workflow's agent span, then the agent's.
    ([span(TRACE, ROOT, "flow", attrs={"openinference.span.kind": "AGENT", "session.id": "named"}),
      span(TRACE, CHAT, "weather", start_ms=5, attrs={
          "openinference.span.kind": "AGENT", "agent.name": "weather"})], "weather"),
    # An agent attribute outranks a span's name; gen_ai.agent.name outranks both.
    ([agent_span(ROOT, "invoke_agent early", 0),
      agent_span(CHAT, "late.agent", 5, **{"agent.name": "by-attribute"}),
      agent_span(TOOL, "later", 9, **{"gen_ai.agent.name": "explicit"})], "explicit"),
    ([agent_span(ROOT, "invoke_agent early", 0), agent_span(CHAT, "x", 5, **{"agent.name": "attr"})],
     "attr"),
    # A span's name names the agent only when nothing else does: the GenAI form too.
    ([agent_span(ROOT, "invoke_agent", 0), agent_span(CHAT, "invoke_agent planner", 5)], "planner"),
    ([agent_span(ROOT, "invoke_agent", 0)], "unknown"),
])
def test_the_firmest_agent_name_names_the_session_whatever_the_order(make_app, spans, name):
    for order in (spans, spans[::-1]):
        client = make_app().test_client()
        for one in order:  # each in its own request, as a span processor without batching
            post(client, one)
        assert read_session(client, "named")["agent_name"] == name


def test_pydantic_ai_reasoning_tokens_and_its_older_tool_attributes(client):
    post(client,
         span(TRACE, CHAT, "chat gpt-4o-mini", attrs={
             "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
             "gen_ai.usage.input_tokens": 101, "gen_ai.usage.output_tokens": 12,
             "gen_ai.usage.details.reasoning_tokens": 4}),
         span(TRACE, TOOL, "running tool", start_ms=5, attrs={
             "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
             "gen_ai.tool.call.id": "call_1", "tool_arguments": '{"city":"Paris"}',
             "tool_response": '{"forecast":"sunny"}'}))
    chat, tool = read_session(client, TRACE)["events"]
    assert (chat["tokens_out"], chat["reasoning_tokens"], chat["metadata"].get("attributes")) == (
        12, 4, None)
    assert tool["tool_call"] == {"name": "get_weather", "input": {"city": "Paris"},
                                 "output": {"forecast": "sunny"}, "call_id": "call_1"}
    assert "attributes" not in tool["metadata"]


def test_an_openlit_workflow_span_contains_others(client):
    post(client, span(TRACE, ROOT, "invoke_workflow flow", attrs={
        "gen_ai.operation.name": "invoke_workflow", "gen_ai.usage.input_tokens": 9}))
    [found] = read_session(client, TRACE)["events"]
    assert (found["event_type"], found["tokens_in"]) == ("workflow", None)


def test_the_vercel_ai_sdk(client):
    """generateText with a tool, as ai 6 exports it (ai.* attributes, gen_ai.* on the
    model calls): a workflow, two LLM calls with their cache and reasoning tokens, and
    the tool call, in the session its metadata names, named after its functionId."""
    call = {"ai.telemetry.functionId": "weather-agent", "ai.telemetry.metadata.sessionId": "vc-1",
            "operation.name": "ai.generateText weather-agent"}
    model_call = {**call, "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o-mini",
                  "gen_ai.system": "openai.chat", "gen_ai.request.model": "gpt-4o-mini",
                  "gen_ai.response.model": "gpt-4o-mini-2024-07-18"}
    post(client,
         span(TRACE, ROOT, "ai.generateText", duration_ms=50, attrs={
             **call, "ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o-mini",
             "ai.prompt": '{"prompt":"Weather in Paris?"}', "ai.usage.inputTokens": 302,
             "ai.usage.outputTokens": 34, "ai.usage.cachedInputTokens": 120,
             "ai.response.text": "Sunny."}),
         span(TRACE, CHAT, "ai.generateText.doGenerate", parent=ROOT, start_ms=1, attrs={
             **model_call, "ai.operationId": "ai.generateText.doGenerate",
             "ai.prompt.messages": '[{"role":"user","content":"Weather in Paris?"}]',
             "gen_ai.usage.input_tokens": 101, "gen_ai.usage.output_tokens": 12,
             "ai.usage.cachedInputTokens": 40, "ai.usage.reasoningTokens": 4}),
         span(TRACE, TOOL, "ai.toolCall", parent=ROOT, start_ms=20, attrs={
             **call, "ai.operationId": "ai.toolCall", "ai.toolCall.name": "get_weather",
             "ai.toolCall.id": "call_1", "ai.toolCall.args": '{"city":"Paris"}',
             "ai.toolCall.result": '{"forecast":"sunny"}'}),
         span(TRACE, OTHER, "ai.generateText.doGenerate", parent=ROOT, start_ms=30, attrs={
             **model_call, "ai.operationId": "ai.generateText.doGenerate",
             "gen_ai.usage.input_tokens": 201, "gen_ai.usage.output_tokens": 22,
             "ai.response.text": "Sunny."}))
    found = read_session(client, "vc-1")
    assert (found["agent_name"], found["total_tokens_in"], found["total_tokens_out"]) == (
        "weather-agent", 302, 34)
    workflow, first, tool, second = found["events"]
    assert (workflow["event_type"], workflow["tokens_in"], workflow["input_data"]) == (
        "workflow", None, {"input": {"prompt": "Weather in Paris?"}})
    assert (first["event_type"], first["model"], first["provider"], first["tokens_in"],
            first["tokens_out"], first["cache_read_tokens"], first["reasoning_tokens"]) == (
        "llm_call", "gpt-4o-mini-2024-07-18", "openai.chat", 101, 12, 40, 4)
    # gpt-4o-mini: 61 x 0.15 + 40 x 0.075 + 12 x 0.60 = 19.35 µ$
    assert first["cost_usd"] == 0.000019
    assert first["input_data"] == {"messages": [{"role": "user", "content": "Weather in Paris?"}]}
    assert tool["tool_call"] == {"name": "get_weather", "input": {"city": "Paris"},
                                 "output": {"forecast": "sunny"}, "call_id": "call_1"}
    assert (second["event_type"], second["output_data"]) == ("llm_call", {"output": "Sunny."})


def test_message_events_one_a_message_as_strands_sends_them(client):
    """The GenAI conventions before 1.37: gen_ai.<role>.message events, then gen_ai.choice;
    on a tool span, the tool message's content and the choice are its input and output."""
    post(client,
         span(TRACE, CHAT, "chat", attrs={"gen_ai.operation.name": "chat"}, events=[
             ("gen_ai.system.message", 1, {"content": '[{"text": "You are a weather bot."}]'}),
             ("gen_ai.user.message", 1, {"content": '[{"text": "Weather in Paris?"}]'}),
             ("gen_ai.choice", 2, {"finish_reason": "tool_use", "message": '[{"toolUse": {}}]'}),
             ("first_token", 2, {"ok": True})]),
         span(TRACE, TOOL, "execute_tool get_weather", start_ms=5, attrs={
             "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
             "gen_ai.tool.call.id": "call_1"}, events=[
             ("gen_ai.tool.message", 6, {"role": "tool", "content": '{"city": "Paris"}',
                                         "id": "call_1"}),
             ("gen_ai.choice", 7, {"message": '[{"text": "sunny"}]', "id": "call_1"})]))
    chat, tool = read_session(client, TRACE)["events"]
    assert chat["input_data"] == {"messages": [
        {"role": "system", "content": [{"text": "You are a weather bot."}]},
        {"role": "user", "content": [{"text": "Weather in Paris?"}]}]}
    assert chat["output_data"] == {"messages": [
        {"finish_reason": "tool_use", "message": [{"toolUse": {}}]}]}
    assert chat["metadata"]["events"] == [
        {"name": "first_token", "time": stamp(2), "attributes": {"ok": True}}]
    assert tool["tool_call"] == {"name": "get_weather", "input": {"city": "Paris"},
                                 "output": [{"text": "sunny"}], "call_id": "call_1"}
    assert tool["metadata"]["events"] == [
        {"name": "gen_ai.tool.message", "time": stamp(6), "attributes": {"role": "tool",
                                                                         "id": "call_1"}},
        {"name": "gen_ai.choice", "time": stamp(7), "attributes": {"id": "call_1"}}]


@pytest.mark.parametrize("spans, name", [
    ([agent_span(ROOT, "invoke_agent writer", 5),
      span(TRACE, CHAT, "ai.generateText", attrs={"ai.operationId": "ai.generateText",
                                                  "ai.telemetry.functionId": "fn-x"})], "writer"),
    ([span(TRACE, CHAT, "ai.generateText", attrs={
        "ai.operationId": "ai.generateText", "ai.telemetry.functionId": "fn-x",
        "session.id": "named"})], "fn-x"),
])
def test_a_vercel_function_names_the_agent_only_when_no_agent_span_does(make_app, spans, name):
    for order in (spans, spans[::-1]):
        client = make_app().test_client()
        for one in order:
            post(client, one)
        assert read_session(client, "named")["agent_name"] == name


def test_empty_messages_are_kept_and_a_vercel_embedding_is_counted(client):
    post(client,
         span(TRACE, CHAT, "chat", attrs={"gen_ai.operation.name": "chat",
                                          "gen_ai.input.messages": "[]"}),
         span(TRACE, TOOL, "ai.embed.doEmbed", start_ms=5, attrs={
             "ai.operationId": "ai.embed.doEmbed", "ai.model.id": "text-embedding-3-small",
             "ai.usage.tokens": 20}))
    chat, embed = read_session(client, TRACE)["events"]
    assert (chat["input_data"], chat["metadata"].get("attributes")) == ({"messages": []}, None)
    assert (embed["event_type"], embed["model"], embed["tokens_in"]) == (
        "embeddings", "text-embedding-3-small", 20)


def mlflow_json(value):
    return json.dumps(value)


def test_mlflow_spans_whose_attributes_are_json_texts(client):
    # As MLflow 3.17 exports them: every attribute a JSON text, its strings quoted.
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    post(client,
         span(TRACE, ROOT, "weather_agent", attrs={
             "mlflow.spanType": mlflow_json("AGENT"), "mlflow.spanFunctionName": '"turn"',
             "mlflow.spanInputs": mlflow_json({"msgs": messages}),
             "mlflow.spanOutputs": mlflow_json("Sunny.")}),
         span(TRACE, CHAT, "Completions", parent=ROOT, start_ms=5, attrs={
             "mlflow.spanType": mlflow_json("CHAT_MODEL"),
             "mlflow.llm.model": mlflow_json("gpt-4o-mini-2024-07-18"),
             "mlflow.chat.tokenUsage": mlflow_json({
                 "input_tokens": 111, "output_tokens": 23, "total_tokens": 134,
                 "cache_read_input_tokens": 40}),
             "mlflow.spanInputs": mlflow_json({"model": "gpt-4o-mini", "messages": messages}),
             "mlflow.spanOutputs": mlflow_json({"id": "chatcmpl-1"})}),
         span(TRACE, TOOL, "get_weather", parent=ROOT, start_ms=10, attrs={
             "mlflow.spanType": mlflow_json("TOOL"),
             "mlflow.spanInputs": mlflow_json({"city": "Paris"}),
             "mlflow.spanOutputs": mlflow_json({"temp_c": 21})}))
    agent, chat, tool = read_session(client, TRACE)["events"]
    assert (agent["event_type"], agent["input_data"], agent["output_data"]) == (
        "agent_call", {"input": {"msgs": messages}}, {"output": "Sunny."})
    assert agent["metadata"]["attributes"] == {"mlflow.spanFunctionName": '"turn"'}
    assert (chat["event_type"], chat["model"], chat["tokens_in"], chat["tokens_out"],
            chat["cache_read_tokens"]) == ("llm_call", "gpt-4o-mini-2024-07-18", 111, 23, 40)
    assert chat["input_data"] == {"input": {"model": "gpt-4o-mini", "messages": messages}}
    # Not mapped, so kept: the total, which the counts already say.
    assert chat["metadata"]["attributes"] == {"mlflow.chat.tokenUsage.total_tokens": 134}
    # gpt-4o-mini: 71 input at $0.15, 40 cached at $0.075, 23 output at $0.60 per million
    assert chat["cost_usd"] == round((71 * 150 + 40 * 75 + 23 * 600) / 10**9, 6)
    assert (tool["event_type"], tool["tool_call"]) == (
        "tool_call", {"name": "get_weather", "input": {"city": "Paris"},
                      "output": {"temp_c": 21}})
    assert read_session(client, TRACE)["total_tokens_in"] == 111


def test_the_anthropic_sdks_own_tracing_and_openinference_embeddings(client):
    post(client,
         span(TRACE, CHAT, "chat claude-sonnet-4-5", attrs={
             "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
             "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.usage.input_tokens": 118,
             "gen_ai.usage.cache_read.input_tokens": 40,
             "gen_ai.usage.cache_write.input_tokens": 7, "gen_ai.usage.output_tokens": 23}),
         span(TRACE, TOOL, "anthropic.custom_tool_use get_weather", start_ms=5, attrs={
             "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
             "gen_ai.tool.call.id": "toolu_1", "gen_ai.tool.call.arguments": '{"city":"Paris"}',
             "anthropic.tool_result.content": '[{"type":"text","text":"sunny"}]'}),
         span(TRACE, OTHER, "CreateEmbeddings", start_ms=10, attrs={
             "openinference.span.kind": "EMBEDDING", "llm.provider": "openai",
             "embedding.model_name": "text-embedding-3-small", "llm.token_count.prompt": 36}))
    chat, tool, embedding = read_session(client, TRACE)["events"]
    assert (chat["tokens_in"], chat["cache_read_tokens"], chat["cache_write_tokens"]) == (
        118, 40, 7)
    assert "attributes" not in chat["metadata"]
    assert tool["tool_call"] == {"name": "get_weather", "input": {"city": "Paris"},
                                 "output": [{"type": "text", "text": "sunny"}],
                                 "call_id": "toolu_1"}
    assert (embedding["event_type"], embedding["model"], embedding["tokens_in"]) == (
        "embeddings", "text-embedding-3-small", 36)
    # text-embedding-3-small: $0.02 per million input tokens
    assert embedding["cost_usd"] == round(36 * 20 / 10**9, 6)


def test_logfires_reasoning_tokens_are_read_from_its_raw_usage(client):
    raw = {"completion_tokens": 23, "prompt_tokens": 111, "total_tokens": 134,
           "completion_tokens_details": {"audio_tokens": 0, "reasoning_tokens": 5},
           "prompt_tokens_details": {"cached_tokens": 40}}
    post(client,
         span(TRACE, CHAT, "Chat Completion with 'gpt-4o-mini'", attrs={
             "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
             "gen_ai.usage.input_tokens": 111, "gen_ai.usage.output_tokens": 23,
             "gen_ai.usage.cache_read.input_tokens": 40, "gen_ai.usage.raw": json.dumps(raw),
             "logfire.span_type": "span"}),
         span(TRACE, OTHER, "responses", start_ms=5, attrs={
             "gen_ai.operation.name": "chat", "gen_ai.usage.output_tokens": 9,
             "gen_ai.usage.reasoning.output_tokens": 2, "gen_ai.usage.raw": json.dumps(
                 {"output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 7}})}))
    chat, other = read_session(client, TRACE)["events"]
    assert (chat["tokens_out"], chat["reasoning_tokens"], chat["cache_read_tokens"]) == (23, 5, 40)
    assert chat["metadata"]["attributes"] == {"gen_ai.usage.raw": json.dumps(raw),
                                              "logfire.span_type": "span"}
    # An attribute that says it wins over the raw usage.
    assert (other["tokens_out"], other["reasoning_tokens"]) == (9, 2)
