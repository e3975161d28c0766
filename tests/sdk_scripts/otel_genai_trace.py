"""GenAI spans written by hand, sent by opentelemetry-sdk's OTLP/HTTP protobuf exporter.

    python otel_genai_trace.py BASE_URL PROCESSOR SESSION

The exporter is configured only by the environment variables the README tells users
to set (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, and here
OTEL_EXPORTER_OTLP_COMPRESSION). PROCESSOR ``batch`` exports everything at the end;
``simple`` exports each span as it ends: children first, each trace's root last, one
request each (a trace split over requests, as it often arrives).

Two traces of conversation SESSION: an agent run (its root names the session and
the agent; a chat, a tool call and a failed chat under it), then a follow-up chat
whose root names the conversation. Start and end times are set from T0, so the test
knows them. Prints RESULT with the trace and span ids, and the resource's attributes
(the SDK adds its own, such as a random service.instance.id).
"""
import netguard

netguard.install()

import json  # noqa: E402
import sys  # noqa: E402

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: E402
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context  # noqa: E402
from result import emit  # noqa: E402

T0 = 1_714_910_000_000_000_000  # 2024-05-05T11:53:20Z
MS = 1_000_000
processor_class = {"batch": BatchSpanProcessor, "simple": SimpleSpanProcessor}[sys.argv[2]]
SESSION = sys.argv[3]

provider = TracerProvider(resource=Resource.create({"service.name": "trip-planner"}))
provider.add_span_processor(processor_class(OTLPSpanExporter()))
tracer = provider.get_tracer("trip-planner", "1.2.3")


def at(ms):
    return T0 + ms * MS


def start(name, start_ms, parent=None, kind=SpanKind.INTERNAL, **attributes):
    context = set_span_in_context(parent) if parent is not None else None
    return tracer.start_span(name, context=context, kind=kind, start_time=at(start_ms),
                             attributes=attributes)


run = start("invoke_agent planner", 0, **{
    "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
    "session.id": SESSION})
chat = start("chat gpt-4o", 5, run, SpanKind.CLIENT, **{
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
    "gen_ai.usage.cache_read.input_tokens": 100,
    "gen_ai.input.messages": json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "Weather in Rome?"}]}]),
    "gen_ai.output.messages": json.dumps(
        [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
            {"type": "tool_call", "id": "call_1", "name": "get_weather",
             "arguments": {"city": "Rome"}}]}])})
chat.end(end_time=at(1505))
tool = start("execute_tool get_weather", 1600, run, **{
    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
    "gen_ai.tool.call.id": "call_1", "gen_ai.tool.call.arguments": '{"city": "Rome"}',
    "gen_ai.tool.call.result": '{"temp": 25}'})
tool.end(end_time=at(1850))
failed = start("chat gpt-4o", 1900, run, SpanKind.CLIENT, **{
    "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 15, "error.type": "TimeoutError"})
failed.set_status(Status(StatusCode.ERROR, "upstream timeout"))
failed.end(end_time=at(1950))
run.end(end_time=at(2000))

follow_up = start("chat gpt-4o", 60_000, None, SpanKind.CLIENT, **{
    "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 40,
    "gen_ai.conversation.id": SESSION})
follow_up.end(end_time=at(60_400))

provider.shutdown()  # flushes every processor
emit(resource=dict(provider.resource.attributes),
     run_trace=format(run.get_span_context().trace_id, "032x"),
     follow_up_trace=format(follow_up.get_span_context().trace_id, "032x"),
     spans={name: format(span.get_span_context().span_id, "016x") for name, span in (
         ("run", run), ("chat", chat), ("tool", tool), ("failed", failed),
         ("follow_up", follow_up))})
