"""The agentops 0.4 SDK against a real AgentLens server. Run with the interpreter of
the environment scripts/prepare-sdk-venvs builds (agentops 0.4.21 needs
opentelemetry-sdk<1.45, the rest of the suite agentops 0.3.26 and 1.45).

    python agentops04_trace.py BASE_URL API_KEY END_STATE WAIT_SECONDS

init() trades the key for a token at /v3/auth/token (in a background thread: the
script waits for it up to WAIT_SECONDS, as any program that runs longer than a round
trip does), then
one trace: start_trace("nightly-run", tags), a decorated agent whose task calls a
decorated tool and prints (AgentOps captures print() and uploads it to
/v4/logs/upload/ when the trace ends), end_trace(END_STATE) (END_STATE "default":
end_trace(trace)). Spans go to /v1/traces
as OTLP protobuf with the token. Prints RESULT with the trace id, whether a token
came, the project id it came with, and the versions of agentops and opentelemetry-sdk.
"""
import netguard

netguard.install()

import sys  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402

import agentops  # noqa: E402
from agentops.sdk.decorators import agent, task, tool  # noqa: E402
from result import emit  # noqa: E402

url, api_key, end_state, wait_seconds = sys.argv[1:5]
agentops.init(api_key=api_key, endpoint=url, exporter_endpoint=f"{url}/v1/traces",
              auto_start_session=False, instrument_llm_calls=False, log_level="WARNING")
client = agentops.get_client()
deadline = time.monotonic() + float(wait_seconds)
while client.get_current_jwt() is None and time.monotonic() < deadline:
    time.sleep(0.02)


@tool(name="calculator")
def add(a, b):
    return a + b


@agent(name="writer")
class Writer:
    @task(name="draft")
    def draft(self, topic):
        print(f"drafting a haiku about {topic}")
        return f"{topic}: {add(2, 3)} syllables"


trace = agentops.start_trace("nightly-run", tags=["nightly", "sdk-e2e"])
text = Writer().draft("autumn")
if end_state == "default":  # the SDK's own: TraceState.SUCCESS, an enum OpenTelemetry drops
    agentops.end_trace(trace)
else:
    agentops.end_trace(trace, end_state=end_state)

emit(trace_id=format(trace.span.get_span_context().trace_id, "032x"), text=text,
     token=client.get_current_jwt() is not None, project_id=client._project_id,
     versions=[version("agentops"), version("opentelemetry-sdk")])
