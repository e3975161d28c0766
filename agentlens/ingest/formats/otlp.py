"""OpenTelemetry traces (OTLP) -> normalised events, session updates and trace claims.

A span is an event of its trace: ``event_id`` its span id, ``parent_id`` its
parent's, both hex. The store files a trace's events under the session a span
of the trace names (``session.id``, else ``gen_ai.conversation.id``; the root
span's claim outranks the others), else under the trace id. The GenAI semantic
conventions, OpenInference, OpenLLMetry (traceloop) and AgentOps 0.4 attributes
are mapped (the README's table); every attribute not mapped is kept on the
event's metadata, with the resource's attributes and the span's name and kind.
A JSON field over the cap (messages, a tool's arguments, the metadata) is stored
as ``{"dropped": why}``, the span with all its figures; a span that cannot be
stored (a bad id, a name or an id over the cap, AgentOps tags over the cap, which
would be the session's) is refused alone.
"""
from dataclasses import dataclass, field

from ... import jsonstrict
from ...timestamps import format_ms
from ..events import (AGENT_ATTRIBUTE, EXPLICIT_NAME, LESSER_NAME, SPAN_NAME, EventError,
                      FieldTooLarge, make_event, session_update, trace_claim)
from . import genai
from .agentops import END_STATES
from .otlp_decode import SPAN_KINDS, attributes

SOURCE = "otlp"
STATUS_ERROR = 2
SPAN_KIND_CLIENT = 3
ROOT_CLAIM, CHILD_CLAIM = 2, 1
ZERO_TRACE_ID, ZERO_SPAN_ID = bytes(16), bytes(8)
MS = 1_000_000  # ns
DROPPED = "dropped"  # what a JSON field over the cap is stored as (dropped_note)
KEPT_WHEN_DROPPED = {"metadata": ("span_name", "span_kind"),
                     "tool_call": ("name", "call_id", "success", "error", "error_type")}
KEPT_CHARS = 1000  # a text longer is not kept beside the note (it may be what was too large)
# AgentOps' end states, and its TraceState and StatusCode names (which are strings
# only when a program passes them as such).
AGENTOPS_END_STATES = {**END_STATES, "ok": "completed", "unset": "active"}
SESSION_KEYS = ("session.id", "gen_ai.conversation.id",
                "traceloop.association.properties.session_id",
                "ai.telemetry.metadata.sessionId")  # the Vercel AI SDK's, by convention


@dataclass
class Batch:
    """What an export request comes to: records for store_batch, the position of each
    event's span among all spans, and the spans refused as ``(position, message)``."""
    events: list = field(default_factory=list)
    positions: list = field(default_factory=list)
    updates: list = field(default_factory=list)
    claims: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    spans: int = 0

    def refused_by_store(self, refused):
        """The store's refusals, ``(index in events, message)``, as spans refused."""
        return [(self.positions[i], f"span {self.events[i]['event_id']} of trace "
                                    f"{self.events[i]['trace_id']}: {message}")
                for i, message in refused]


def export_request(request, problems, received_ms, max_field_bytes):
    """An ExportTraceServiceRequest -> Batch, its events in the order the spans started,
    to the ns (an exporter sends them as they end: children first); spans that started
    in the same ns keep the order they came in. Readers list events by their start in
    ms, then in the order stored, so a parent that started before its children in the
    same ms still comes first. ``problems`` maps (resource, scope, span)
    positions to a reason the decoder already found to refuse that span."""
    batch, starts = Batch(), []
    for r, resource_spans in enumerate(request.resource_spans):
        resource = attributes(resource_spans.resource.attributes)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_of(scope_spans.scope)
            for k, span in enumerate(scope_spans.spans):
                position, batch.spans = batch.spans, batch.spans + 1
                try:
                    if (r, s, k) in problems:
                        raise EventError(problems[(r, s, k)])
                    event, updates, claims = span_records(
                        span, resource, scope, received_ms, max_field_bytes)
                except EventError as error:
                    batch.rejected.append((position, f"span {describe(span)}: {error}"))
                    continue
                for record in (*updates, *claims):
                    record["event"] = len(batch.events)  # refused with it (store_batch)
                batch.events.append(event)
                batch.positions.append(position)
                starts.append(start_ns(span, received_ms))
                batch.updates += updates
                batch.claims += claims
    order = sorted(range(len(starts)), key=starts.__getitem__)
    batch.events = [batch.events[i] for i in order]
    batch.positions = [batch.positions[i] for i in order]
    index = {old: new for new, old in enumerate(order)}
    for record in (*batch.updates, *batch.claims):
        record["event"] = index[record["event"]]
    return batch


def start_ns(span, received_ms):
    """When a span started, in ns; a start before 1 ms (none, for OTLP) is its arrival."""
    start = span.start_time_unix_nano
    return start if start >= MS else received_ms * MS


def describe(span):
    return f"{span.span_id.hex() or '(no id)'} of trace {span.trace_id.hex() or '(no id)'}"


def scope_of(scope):
    described = {key: value for key, value in (("name", scope.name), ("version", scope.version))
                 if value}
    if scope.attributes:
        described["attributes"] = attributes(scope.attributes)
    return described or None


def hex_ids(span):
    """``(trace id, span id, parent span id or None)`` in hex; EventError if one is invalid."""
    trace_id, span_id, parent_id = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != 16 or trace_id == ZERO_TRACE_ID:
        raise EventError("traceId: must be 16 bytes, not all zero")
    if len(span_id) != 8 or span_id == ZERO_SPAN_ID:
        raise EventError("spanId: must be 8 bytes, not all zero")
    if parent_id and len(parent_id) != 8:
        raise EventError("parentSpanId: must be empty or 8 bytes")
    return (trace_id.hex(), span_id.hex(),
            parent_id.hex() if parent_id and parent_id != ZERO_SPAN_ID else None)


def span_records(span, resource, scope, received_ms, max_field_bytes):
    """One span -> (event, session updates, trace claims); EventError if it cannot be stored."""
    trace_id, span_id, parent_id = hex_ids(span)
    name, start, end = span.name, span.start_time_unix_nano, span.end_time_unix_nano
    attrs = attributes(span.attributes)
    if "mlflow.spanType" in attrs:
        genai.mlflow_attributes(attrs)
    events = [span_event(event) for event in span.events] if span.events else []
    start_ms = start // MS or received_ms  # as start_ns
    end_ms = end // MS or None
    duration_ms = (end - start) / MS if MS <= start <= end else None

    event_type = genai.event_type(attrs)
    # An agent run in this process (an internal span: pydantic-ai's, n8n's) carries the
    # sum of the calls under it, each a span of its own: counted there, once, and kept
    # here as attributes with the model it names. A remote agent's (a client span, as
    # the conventions say: Bedrock, OpenAI Assistants) has no calls under it: counted.
    rollup = event_type in genai.AGGREGATES and span.kind != SPAN_KIND_CLIENT
    fields = {} if rollup else {
        "model": genai.model(attrs), "provider": genai.provider(attrs), **genai.tokens(attrs)}
    failed = span.status.code == STATUS_ERROR or "error.type" in attrs
    error = error_of(span, attrs, events) if failed else None
    if event_type == "tool_call":
        fields["tool_call"] = genai.tool_call(attrs, events, name, error)
    else:
        fields["input_data"] = genai.input_data(attrs, events)
        fields["output_data"] = genai.output_data(attrs, events, error)
        if error is not None:
            event_type += "_error"

    claims, updates = [], []
    named = genai.take_text(attrs, SESSION_KEYS)
    if named is not None:
        claims.append(trace_claim(trace_id, named, CHILD_CLAIM if parent_id else ROOT_CLAIM,
                                  max_field_bytes=max_field_bytes))
    for ts, change in session_changes(attrs, event_type, name, start_ms, end_ms):
        updates.append(session_update(None, ts, SOURCE, trace_id=trace_id,
                                      max_field_bytes=max_field_bytes, **change))

    kind = span.kind
    metadata = {"span_name": name, "span_kind": SPAN_KINDS.get(kind) or str(kind)}
    for key, value in (("attributes", attrs), ("events", [e for e in events if e]),
                       ("links", [link_of(link) for link in span.links] if span.links else None),
                       ("resource", resource), ("scope", scope),
                       ("trace_state", span.trace_state)):
        if value:
            metadata[key] = value
    fields["metadata"], dropped = metadata, set()
    while True:
        try:
            event = make_event(session_id=None, trace_id=trace_id, event_id=span_id,
                               parent_id=parent_id, event_type=event_type, source=SOURCE,
                               ts=start_ms, duration_ms=duration_ms,
                               max_field_bytes=max_field_bytes, **fields)
            return event, updates, claims
        except FieldTooLarge as error:
            # A value too large to keep costs the span that value only, not its figures.
            if error.field in dropped:
                raise
            dropped.add(error.field)
            fields[error.field] = dropped_note(fields[error.field], error)


def dropped_note(value, error):
    """What a JSON field over the cap is stored as: ``{"dropped": why}``, beside what
    the value says of the span (names and outcomes) when it has that, briefly."""
    kept = [key for key in KEPT_WHEN_DROPPED.get(error.field, ()) if key in value and not (
        isinstance(value[key], str) and len(value[key]) > KEPT_CHARS)]
    return {**{key: value[key] for key in kept}, DROPPED: str(error)}


def span_event(event):
    """A span event as a dict; the mapping takes what it maps out of its attributes
    (and empties an event it takes everything from)."""
    described = {"name": event.name, "time": format_ms(event.time_unix_nano // MS)}
    if event.attributes:
        described["attributes"] = attributes(event.attributes)
    return described


def link_of(link):
    described = {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()}
    if link.attributes:
        described["attributes"] = attributes(link.attributes)
    return described


def error_of(span, attrs, events):
    """``(message, type)`` of a failed span: its status message, else its exception
    event's message, else its error.type."""
    error_type = attrs.pop("error.type", None)
    message = span.status.message or None
    for event in events:
        if event.get("name") == "exception" and message is None:
            message = event.get("attributes", {}).get("exception.message")
    if error_type is not None and not isinstance(error_type, str):
        error_type = jsonstrict.dumps(error_type)
    return (message or error_type or "error"), error_type


def session_changes(attrs, event_type, span_name, start_ms, end_ms):
    """``(ts, keyword arguments)`` of the session updates a span makes to its trace's
    session: at its start, its agent's name (``gen_ai.agent.name`` names it firmly,
    an agent span's other name attributes less, the span's own name less again, and
    AgentOps' trace name least) and AgentOps' tags; at its end, AgentOps' end state
    as the status."""
    start = {}
    agent, rank = genai.take_text(attrs, ("gen_ai.agent.name",)), EXPLICIT_NAME
    if agent is None and event_type.startswith("agent_call"):
        agent, rank = genai.take_text(attrs, genai.AGENT_NAMES), AGENT_ATTRIBUTE
        if agent is None:
            agent, rank = genai.agent_of_span_name(span_name), SPAN_NAME
    if agent is None:  # the Vercel AI SDK's functionId, on every span of the call: a stand-in
        agent, rank = genai.take_text(attrs, ("ai.telemetry.functionId",)), LESSER_NAME
    if agent:
        start.update(agent_name=agent, name_rank=rank)
    elif event_type.startswith("session"):  # AgentOps' root span, named after the trace
        trace_name = (genai.take_text(attrs, genai.ENTITY_NAMES)
                      or genai.entity_name(span_name, "session"))
        if trace_name:
            start.update(agent_name=trace_name, name_rank=LESSER_NAME)
    tags = attrs.pop("agentops.tags", None)
    if tags is not None:
        start["metadata"] = {"tags": tags}
    changes = [(start_ms, start)] if start else []
    end_state = attrs.get("agentops.session.end_state")
    status = None
    if isinstance(end_state, str):  # "Success", also "TraceState.ERROR", "OK"...
        status = AGENTOPS_END_STATES.get(end_state.lower().rpartition(".")[2])
        if status is not None:
            del attrs["agentops.session.end_state"]
    elif end_state is None and event_type.startswith("session"):
        # AgentOps exports its root span when the trace ends; the SDK's own end states
        # are enums, which OpenTelemetry drops from the span: ended with no state, it
        # succeeded unless the span failed (an exception leaves no trace on the wire).
        status = "error" if event_type.endswith("_error") else "completed"
    if status is not None and status != "active":
        changes.append((end_ms or start_ms, {"status": status}))
    return changes
