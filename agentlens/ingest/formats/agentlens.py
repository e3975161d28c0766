"""AgentLens's own format: ``POST /events`` with ``{"events": [...]}``."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from ...timestamps import now_ms, parse_iso
from ..events import STATUSES, make_event
from .shared import JSONValue, Number, batch_items, drop_nulls, parse_each

SOURCE = "agentlens"
MAX_TOKENS = 10**12  # far above any real count, far below what a SUM could overflow


class Timestamp(fields.Field):
    """ISO 8601 text -> epoch milliseconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid ISO 8601 timestamp string.")
        try:
            return parse_iso(value)
        except ValueError:
            raise ValidationError(f"Not a valid ISO 8601 timestamp: {value[:64]!r}.")


def Count():
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_TOKENS))


# Beyond being non-empty, strings are bounded only by the field cap (make_event).
IDENTIFIER = NAME = validate.Length(min=1)


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
        return drop_nulls(data, "event")

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
    """``(events, rejected)`` for a ``POST /events`` body (see shared.parse_each)."""
    items = batch_items(body, max_batch)
    received_ms = now_ms()
    return parse_each(
        items, lambda item: to_normalised(EVENT_SCHEMA.load(item), max_field_bytes, received_ms))
