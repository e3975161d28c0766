"""The normalised event every wire format produces for ``store_batch``."""
import json
import uuid

from ..errors import APIError
from ..timestamps import now_ms

STATUSES = ("active", "completed", "error")


class EventError(APIError):
    """A problem with one event: ``field: problem`` (a 400 when it is the only one)."""

    def __init__(self, message):
        super().__init__(400, message)


def to_json(value):
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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


def is_error(event_type, tool_call):
    """An error event: its type says error, or its tool call says it failed."""
    if "error" in event_type.lower():
        return True
    if isinstance(tool_call, dict):
        return tool_call.get("success") is False or bool(tool_call.get("error"))
    return False


MAX_DURATION_MS = 10**9  # 11.6 days for one operation; keeps every sum far from overflow


def _size(field, text):
    if text.isascii():
        return len(text)
    try:
        return len(text.encode())
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a "\udfff" escape
        raise EventError(f"{field}: not valid Unicode text (lone surrogate)")


def make_event(*, session_id, event_type, source, event_id=None, ts=None, parent_id=None,
               model=None, tokens_in=None, tokens_out=None, duration_ms=None,
               input_data=None, output_data=None, tool_call=None, decision_trace=None,
               metadata=None, agent_name=None, status=None, final_tokens_in=None,
               final_tokens_out=None, max_field_bytes):
    """Build a normalised event from plain values; raise EventError if a field is too big.

    A lifecycle event without an id gets ``<session_id>:<event_type>`` so that
    a retry is recognised (``<session_id>:<source>:<event_type>`` from an SDK
    format, so that one session started through two formats keeps both);
    any other event gets a random UUID.
    """
    if event_id is None:
        if event_type in ("session_start", "session_end"):
            event_id = ":".join([session_id, *([source] if source != "agentlens" else []),
                                 event_type])
        else:
            event_id = str(uuid.uuid4())
    event = {
        "event_id": event_id,
        "session_id": session_id,
        "event_type": event_type,
        "ts": now_ms() if ts is None else ts,
        "parent_id": parent_id,
        "model": model or None,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "duration_ms": duration_ms,
        "input_data": to_json(input_data),
        "output_data": to_json(output_data),
        "tool_call": to_json(tool_call),
        "tool_name": tool_name(tool_call),
        "decision_trace": to_json(decision_trace),
        "metadata": to_json(metadata),
        "is_error": is_error(event_type, tool_call),
        "source": source,
        "agent_name": agent_name,
        "status": status,
        "final_tokens_in": final_tokens_in,
        "final_tokens_out": final_tokens_out,
    }
    return check_sizes(event, max_field_bytes)


def check_text(record):
    """Refuse text SQLite cannot store: a lone surrogate (e.g. from a "\\udfff" escape)."""
    for field, value in record.items():
        if isinstance(value, str):
            _size(field, value)
    return record


def check_sizes(event, max_field_bytes):
    """Refuse the event if one of its text or JSON fields is over the cap or not
    valid Unicode, or its duration is out of range."""
    for field, value in event.items():
        if isinstance(value, str) and _size(field, value) > max_field_bytes:
            raise EventError(f"{field}: larger than the {max_field_bytes}-byte field limit")
    if (event.get("duration_ms") or 0) > MAX_DURATION_MS:
        raise EventError(f"duration_ms: more than {MAX_DURATION_MS} ms")
    return event
