"""The normalised event every wire format produces for ``store_batch``, and the
session update for formats that change a session without an event."""
import uuid

from .. import jsonstrict, rules
from ..pricing import tokens
from ..timestamps import now_ms

STATUSES = ("active", "completed", "error")
# The stored columns of an event, in the order store_batch inserts them.
EVENT_COLUMNS = (
    "session_id", "trace_id", "event_id", "event_type", "ts", "parent_id", "model", "provider",
    "tokens_in", "tokens_out", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "cost_nanos", "cost_source", "duration_ms", "input_data", "output_data", "tool_call",
    "tool_name", "decision_trace", "metadata", "is_error", "source",
)
JSON_FIELDS = ("input_data", "output_data", "tool_call", "decision_trace", "metadata")
# How firmly a name names its session (``name_rank``): the firmest wins, then the
# earliest, then the smaller name, so that the order of arrival never matters.
UNNAMED = 0
LESSER_NAME = 1      # a stand-in: AgentOps' trace name, Agnost's client_config
SPAN_NAME = 2        # what an agent span's own name says (``writer.agent``, ``invoke_agent writer``)
AGENT_ATTRIBUTE = 3  # an agent span's ``agent.name``, ``traceloop.entity.name``...
EXPLICIT_NAME = 4    # a session_start's agent_name, create_agent, ``gen_ai.agent.name``...
MAX_DURATION_MS = 10**9  # 11.6 days for one operation; keeps every sum far from overflow


class EventError(ValueError):
    """A problem with one event or update: ``field: problem``. A request refused
    for it alone is a 400 (errors.py); in a batch, that event is reported as rejected."""

    @property
    def message(self):
        return str(self)

    @property
    def field(self):
        return self.message.partition(": ")[0]

    def named(self, names):
        """The same problem, its field named as ``names`` maps it (a wire format's name)."""
        field, _, problem = self.message.partition(": ")
        return self if field not in names else EventError(f"{names[field]}: {problem}")


class FieldTooLarge(EventError):
    """A JSON field over the cap."""

    @classmethod
    def of(cls, field, max_field_bytes):
        return cls(f"{field}: larger than the {max_field_bytes}-byte field limit")


def to_json(value, field, max_field_bytes=None):
    """Strict JSON text of a field's value (None stays None); EventError naming the field,
    also when the text is over ``max_field_bytes`` (measured on the bytes written)."""
    if value is None:
        return None
    try:
        data = jsonstrict.dump_bytes(value)
    except jsonstrict.JSONProblem as problem:
        raise EventError(f"{field}: {problem}")
    if max_field_bytes is not None and len(data) > max_field_bytes:
        raise FieldTooLarge.of(field, max_field_bytes)
    return data.decode()


def tool_field(tool_call, key):
    """A tool call's ``name``/``input``/``output``, read from either accepted shape:
    ``{name, input, output}`` or ``{tool_name, tool_input, tool_output}``."""
    if not isinstance(tool_call, dict):
        return None
    value = tool_call.get(key)
    return value if value is not None else tool_call.get(f"tool_{key}")


def tool_name(tool_call):
    name = tool_field(tool_call, "name")
    return name if isinstance(name, str) and name else None


def text_size(field, text):
    """UTF-8 size of a text; EventError if it holds a lone surrogate (SQLite cannot store it)."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode())
    except UnicodeEncodeError:  # e.g. from a "\udfff" escape
        raise EventError(f"{field}: {jsonstrict.SURROGATE}")


def make_event(*, session_id, event_type, source, max_field_bytes, event_id=None, trace_id="",
               ts=None, parent_id=None, model=None, provider=None, tokens_in=None,
               tokens_out=None, cache_read_tokens=None, cache_write_tokens=None,
               reasoning_tokens=None, cost_nanos=None, duration_ms=None, input_data=None,
               output_data=None, tool_call=None, decision_trace=None, metadata=None,
               agent_name=None, status=None, final_tokens_in=None, final_tokens_out=None):
    """Build a normalised event from plain values; EventError naming the field if one
    is too big or cannot be stored.

    A lifecycle event without an id gets one from :func:`rules.lifecycle_event_id`
    so that a retry is recognised; any other event gets a random UUID. A
    ``cost_nanos`` given here is the client's own (it wins over a computed price).
    Token buckets that are negative or do not fit (pricing/tokens.py) refuse it.
    """
    bucket_problem = tokens.problem(tokens_in, tokens_out, cache_read_tokens,
                                    cache_write_tokens, reasoning_tokens)
    if bucket_problem:
        raise EventError(bucket_problem)
    if event_id is None:
        if event_type in rules.LIFECYCLE_TYPES:
            event_id = rules.lifecycle_event_id(session_id, event_type, source)
        else:
            event_id = str(uuid.uuid4())
    event = {
        "session_id": session_id,
        "trace_id": trace_id,
        "event_id": event_id,
        "event_type": event_type,
        "ts": now_ms() if ts is None else ts,
        "parent_id": parent_id,
        "model": model or None,
        "provider": provider or None,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cache_read_tokens": cache_read_tokens,
        "cache_write_tokens": cache_write_tokens,
        "reasoning_tokens": reasoning_tokens,
        "cost_nanos": cost_nanos,
        "cost_source": None if cost_nanos is None else "client",
        "duration_ms": duration_ms,
        "input_data": to_json(input_data, "input_data", max_field_bytes),
        "output_data": to_json(output_data, "output_data", max_field_bytes),
        "tool_call": to_json(tool_call, "tool_call", max_field_bytes),
        "tool_name": tool_name(tool_call),
        "decision_trace": to_json(decision_trace, "decision_trace", max_field_bytes),
        "metadata": to_json(metadata, "metadata", max_field_bytes),
        "is_error": rules.is_error(event_type, tool_call),
        "source": source,
        "agent_name": agent_name,
        "status": status,
        "final_tokens_in": final_tokens_in,
        "final_tokens_out": final_tokens_out,
    }
    return check_sizes(event, max_field_bytes, PLAIN_TEXT_FIELDS)


# An event's text fields besides its JSON ones, which to_json has measured (and whose
# text cannot hold a raw U+0000: JSON writes it escaped).
PLAIN_TEXT_FIELDS = ("session_id", "trace_id", "event_id", "event_type", "parent_id", "model",
                     "provider", "tool_name", "source", "agent_name", "status")


def check_sizes(record, max_field_bytes, fields=None):
    """Refuse the record if one of its text fields (all, or those of ``fields``) is over
    the cap, not valid Unicode or holds U+0000 (PostgreSQL cannot keep it in text, so
    neither store takes it: JSON fields carry it escaped), or its duration is out of range."""
    for field in record if fields is None else fields:
        value = record[field]
        if type(value) is not str:
            continue
        # Most text is short ASCII, whose size is its length: measured only otherwise.
        if not (value.isascii() and len(value) <= max_field_bytes):
            if text_size(field, value) > max_field_bytes:
                raise EventError(f"{field}: larger than the {max_field_bytes}-byte field limit")
        if "\x00" in value:
            raise EventError(f"{field}: contains U+0000 (NUL), which a text field cannot hold")
    if (record.get("duration_ms") or 0) > MAX_DURATION_MS:
        raise EventError(f"duration_ms: more than {MAX_DURATION_MS} ms")
    return record


def session_update(session_id, ts, source, *, max_field_bytes, trace_id="", agent_name=None,
                   name_rank=EXPLICIT_NAME, metadata=None, status=None, final_tokens_in=None,
                   final_tokens_out=None):
    """A change to a session itself: its name (at ``name_rank``), metadata merged over
    what it has (a JSON object), or its end (``status``). With ``session_id`` None,
    the session is the one ``trace_id`` is filed under (see :func:`trace_claim`).
    Its ``event`` is None, an update of its own; a format whose events carry updates
    (OTLP's spans) sets it to the carrying event's position in the batch, so that
    store_batch refuses them together."""
    if metadata is not None:
        check_sizes({"metadata": to_json(metadata, "metadata")}, max_field_bytes)
    update = {"session_id": session_id, "trace_id": trace_id, "ts": ts, "source": source,
              "agent_name": agent_name, "name_rank": name_rank, "metadata": metadata,
              "status": status, "final_tokens_in": final_tokens_in,
              "final_tokens_out": final_tokens_out, "event": None}
    return check_sizes(update, max_field_bytes)


def trace_claim(trace_id, session_id, rank, *, max_field_bytes):
    """A span names the session of its trace: rank 2 when it is the trace's root span,
    1 otherwise. Events and updates given ``session_id=None`` and a ``trace_id`` are
    filed under the best claim the trace has had (the highest rank, then the smaller
    session id, so arrival order does not matter), else under the trace id itself.
    Its ``event``: as a session update's."""
    return check_sizes({"trace_id": trace_id, "session_id": session_id, "rank": rank,
                        "event": None}, max_field_bytes)
