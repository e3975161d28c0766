"""AgentLens's own format: ``POST /events`` with ``{"events": [...]}``."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from ...errors import APIError, describe_validation_error
from ...timestamps import now_ms, parse_iso
from ..events import STATUSES, EventError, make_event

SOURCE = "agentlens"
MAX_TOKENS = 2**31 - 1


class Timestamp(fields.Field):
    """ISO 8601 text -> epoch milliseconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid ISO 8601 timestamp string.")
        try:
            return parse_iso(value)
        except ValueError:
            raise ValidationError(f"Not a valid ISO 8601 timestamp: {value[:64]!r}.")


class Number(fields.Float):
    """A JSON number (not a numeric string, not a boolean)."""

    def _validated(self, value):
        if isinstance(value, (str, bool)):
            raise self.make_error("invalid")
        return super()._validated(value)


class JSONValue(fields.Raw):
    def __init__(self, *, object_only=False, **kwargs):
        super().__init__(**kwargs)
        self.object_only = object_only

    def _deserialize(self, value, attr, data, **kwargs):
        if self.object_only and not isinstance(value, dict):
            raise ValidationError("Must be a JSON object.")
        return value


def Count():
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_TOKENS))


IDENTIFIER = validate.Length(min=1, max=512)
NAME = validate.Length(min=1, max=1024)


class EventSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    event_type = fields.String(load_default="generic", validate=NAME)
    session_id = fields.String(load_default="unknown", validate=IDENTIFIER)
    event_id = fields.String(validate=IDENTIFIER)
    parent_id = fields.String(validate=IDENTIFIER)
    timestamp = Timestamp()
    model = fields.String()
    input_data = JSONValue()
    output_data = JSONValue()
    tool_call = JSONValue(object_only=True)
    decision_trace = JSONValue()
    metadata = JSONValue(object_only=True)
    tokens_in = Count()
    tokens_out = Count()
    duration_ms = Number(allow_nan=False, validate=validate.Range(min=0))
    agent_name = fields.String(validate=NAME)
    status = fields.String()
    total_tokens_in = Count()
    total_tokens_out = Count()

    @pre_load
    def treat_null_as_missing(self, data, **kwargs):
        if not isinstance(data, dict):
            raise ValidationError("Must be a JSON object.", "event")
        return {key: value for key, value in data.items() if value is not None}

    @validates_schema
    def check_lifecycle_fields(self, data, **kwargs):
        if data["event_type"] == "session_start" and "agent_name" not in data:
            raise ValidationError("Required for session_start.", "agent_name")
        if data["event_type"] == "session_end" and data.get("status", "completed") not in STATUSES:
            raise ValidationError(f"Must be one of: {', '.join(STATUSES)}.", "status")


EVENT_SCHEMA = EventSchema()


def to_normalised(data, max_field_bytes, received_ms):
    event_type = data["event_type"]
    return make_event(
        session_id=data["session_id"],
        event_type=event_type,
        source=SOURCE,
        event_id=data.get("event_id"),
        ts=data.get("timestamp", received_ms),
        parent_id=data.get("parent_id"),
        model=data.get("model"),
        tokens_in=data.get("tokens_in"),
        tokens_out=data.get("tokens_out"),
        duration_ms=data.get("duration_ms"),
        input_data=data.get("input_data"),
        output_data=data.get("output_data"),
        tool_call=data.get("tool_call"),
        decision_trace=data.get("decision_trace"),
        metadata=data.get("metadata"),
        agent_name=data.get("agent_name"),
        status=data.get("status", "completed") if event_type == "session_end" else None,
        final_tokens_in=data.get("total_tokens_in"),
        final_tokens_out=data.get("total_tokens_out"),
        max_field_bytes=max_field_bytes,
    )


def parse_batch(body, *, max_batch, max_field_bytes):
    """Validate each event on its own.

    Returns ``(events, rejected)``: the normalised valid events, and
    ``[{"index": i, "error": "field: problem"}]`` for the refused ones.
    Raises APIError when the body itself is unusable.
    """
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise APIError(400, 'events: required; the body must be a JSON object with an "events" array')
    raw_events = body["events"]
    if len(raw_events) > max_batch:
        raise APIError(400, f"events: at most {max_batch} events per batch, got {len(raw_events)}")
    if not raw_events:
        raise APIError(400, "events: must contain at least one event")
    received_ms = now_ms()
    events, rejected = [], []
    for index, raw in enumerate(raw_events):
        try:
            events.append(to_normalised(EVENT_SCHEMA.load(raw), max_field_bytes, received_ms))
        except ValidationError as error:
            rejected.append({"index": index, "error": describe_validation_error(error.messages)})
        except EventError as error:
            rejected.append({"index": index, "error": str(error)})
    return events, rejected
