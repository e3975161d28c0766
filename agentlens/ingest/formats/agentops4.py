"""The AgentOps 0.4 SDK's two REST calls beside its OTLP spans: its API key for a
token (``/v3/auth/token``), and the log it captured during a trace (``/v4/logs/upload/``).

The log becomes an event of its trace (type ``log``, the text in ``output_data``),
so it moves with the trace to the session a span names and shows in the session's
events. Its id is a hash of the text: a retried upload is stored once.
"""
import hashlib

from ..events import EventError, make_event
from .otlp import SOURCE
from .shared import NOT_EMPTY, SDKSchema, Text

MAX_TRACE_ID = 2**128 - 1


class TokenBody(SDKSchema):
    api_key = Text()  # a missing key is refused like every missing credential: a 401


class LogBody(SDKSchema):
    body = Text(required=True, validate=NOT_EMPTY)


TOKEN_BODY = TokenBody()
LOG_BODY = LogBody()


def api_key_of(body):
    return TOKEN_BODY.load(body).get("api_key") or None


def trace_id_of(header):
    """The ``Trace-Id`` header: the trace id in decimal, as the SDK sends it -> 32 hex digits."""
    text = (header or "").strip()
    if not text:
        raise EventError("Trace-Id: required header (the trace id, in decimal)")
    if (len(text) > len(str(MAX_TRACE_ID)) or not (text.isascii() and text.isdigit())
            or not 0 < int(text) <= MAX_TRACE_ID):
        raise EventError(f"Trace-Id: not a trace id in decimal: {text[:64]!r}")
    return f"{int(text):032x}"


def log_event(body, trace_header, received_ms, max_field_bytes):
    """A log upload -> a ``log`` event of its trace."""
    trace_id = trace_id_of(trace_header)
    text = LOG_BODY.load(body)["body"]
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return make_event(session_id=None, trace_id=trace_id, event_id=f"log:{digest}",
                      event_type="log", source=SOURCE, ts=received_ms,
                      output_data={"text": text}, max_field_bytes=max_field_bytes)
