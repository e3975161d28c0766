"""The real openai client, traced by a real instrumentation, against the test's fake LLM.

    python openai_traced.py BASE_URL LLM_URL INSTRUMENTATION SESSION

INSTRUMENTATION is ``openai-v2`` (opentelemetry-instrumentation-openai-v2; message
content on the spans as its environment variables say) or ``openinference``
(openinference-instrumentation-openai). An agent loop: a chat completion asks for
``get_weather``, the tool runs, a second completion answers. The agent's span and the
tool's are written by hand in the instrumentation's own conventions: with openai-v2,
``invoke_agent`` naming the conversation SESSION; with OpenInference, an AGENT span
inside ``using_session(SESSION)``, which puts ``session.id`` on every span. Spans go
through the OTLP/HTTP protobuf exporter, configured by OTEL_EXPORTER_OTLP_ENDPOINT.
Prints RESULT with the answer and the trace id.
"""
import netguard

netguard.install()

import contextlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import openai  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from result import emit  # noqa: E402

llm_url, instrumentation, session_id = sys.argv[2:5]
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("weather-agent")

if instrumentation == "openai-v2":
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    def agent_run():
        return tracer.start_as_current_span("invoke_agent weather-agent", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather-agent",
            "gen_ai.conversation.id": session_id})

    def tool_span(arguments):
        return tracer.start_as_current_span("execute_tool get_weather", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_w1", "gen_ai.tool.call.arguments": arguments})

    def record_result(span, result):
        span.set_attribute("gen_ai.tool.call.result", result)
else:
    from openinference.instrumentation import get_attributes_from_context, using_session
    from openinference.instrumentation.openai import OpenAIInstrumentor

    @contextlib.contextmanager
    def agent_run():
        with using_session(session_id), tracer.start_as_current_span("weather-agent", attributes={
                "openinference.span.kind": "AGENT", "agent.name": "weather-agent",
                **dict(get_attributes_from_context())}) as span:
            yield span

    def tool_span(arguments):
        return tracer.start_as_current_span("get_weather", attributes={
            "openinference.span.kind": "TOOL", "tool.name": "get_weather",
            "input.value": arguments, "input.mime_type": "application/json",
            **dict(get_attributes_from_context())})

    def record_result(span, result):
        span.set_attributes({"output.value": result, "output.mime_type": "application/json"})

OpenAIInstrumentor().instrument(tracer_provider=provider)
client = openai.OpenAI(base_url=llm_url, api_key="sk-test", max_retries=0)
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}]


def complete(messages):
    response = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    return response.choices[0].message


with agent_run():
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Rome?"}]
    asked = complete(messages)
    call = asked.tool_calls[0]
    messages.append(asked.model_dump(exclude_none=True))
    with tool_span(call.function.arguments) as span:
        result = json.dumps({"temp": 25, "city": json.loads(call.function.arguments)["city"]})
        record_result(span, result)
        trace_id = format(span.get_span_context().trace_id, "032x")
    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    answer = complete(messages).content

provider.shutdown()
emit(answer=answer, trace_id=trace_id)
