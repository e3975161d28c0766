"""AgentLens's own format: ``POST /events`` with ``{"events": [...]}``."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from ...timestamps import now_ms
from ..events import STATUSES, make_event
from .loading import FieldLoader
from .shared import (NOT_EMPTY, Cost, Count, JSONValue, Number, Timestamp, batch_items,
                     client_cost, parse_each)

SOURCE = "agentlens"


class EventSchema(Schema):
    """Types only; null is allowed everywhere and means absent (see to_normalised).
    No hooks: each one costs a few microseconds per event on the ingest path."""

    class Meta:
        unknown = EXCLUDE

    event_type = fields.String(allow_none=True, validate=NOT_EMPTY)
    session_id = fields.String(allow_none=True, validate=NOT_EMPTY)
    event_id = fields.String(allow_none=True, validate=NOT_EMPTY)
    parent_id = fields.String(allow_none=True, validate=NOT_EMPTY)
    timestamp = Timestamp(allow_none=True)
    model = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    input_data = JSONValue(allow_none=True)
    output_data = JSONValue(allow_none=True)
    tool_call = JSONValue(object_only=True, allow_none=True)
    decision_trace = JSONValue(allow_none=True)
    metadata = JSONValue(allow_none=True)  # an object on a session_start (to_normalised)
    tokens_in = Count(allow_none=True)
    tokens_out = Count(allow_none=True)
    cache_read_tokens = Count(allow_none=True)
    cache_write_tokens = Count(allow_none=True)
    reasoning_tokens = Count(allow_none=True)
    cost_usd = Cost(allow_none=True)
    duration_ms = Number(allow_nan=False, allow_none=True, validate=validate.Range(min=0))
    agent_name = fields.String(allow_none=True, validate=NOT_EMPTY)
    status = fields.String(allow_none=True)
    total_tokens_in = Count(allow_none=True)
    total_tokens_out = Count(allow_none=True)


# session_end's own time, which wins over its timestamp (read for session_end only).
ENDED_AT = Timestamp()
EVENT_SCHEMA = EventSchema()
EVENT_LOADER = FieldLoader(EVENT_SCHEMA)


def to_normalised(item, max_field_bytes, received_ms):
    """One raw event -> a normalised event; ValidationError naming the field if not valid."""
    data = EVENT_LOADER.load(item)
    event_type = data.get("event_type") or "generic"
    status = None
    if event_type == "session_start":
        for field in ("session_id", "agent_name"):
            if data.get(field) is None:
                raise ValidationError("Required for session_start.", field)
        # It becomes the session's metadata, merged key by key; on another event any
        # JSON value is kept as it came.
        if not isinstance(data.get("metadata", {}), (dict, type(None))):
            raise ValidationError("Must be a JSON object on a session_start.", "metadata")
    timestamp = data.get("timestamp")
    if event_type == "session_end":
        status = "completed" if data.get("status") is None else data["status"]
        if status not in STATUSES:
            raise ValidationError(f"Must be one of: {', '.join(STATUSES)}.", "status")
        if item.get("ended_at") is not None:  # the reference SDK's end_session sends only this
            try:
                timestamp = ENDED_AT.deserialize(item["ended_at"])
            except ValidationError as error:
                raise ValidationError(error.messages, "ended_at")
    return make_event(
        session_id=data.get("session_id") or "unknown",
        event_type=event_type,
        source=SOURCE,
        event_id=data.get("event_id"),
        ts=received_ms if timestamp is None else timestamp,
        parent_id=data.get("parent_id"),
        model=data.get("model"),
        tokens_in=data.get("tokens_in"),
        tokens_out=data.get("tokens_out"),
        provider=data.get("provider"),
        cache_read_tokens=data.get("cache_read_tokens"),
        cache_write_tokens=data.get("cache_write_tokens"),
        reasoning_tokens=data.get("reasoning_tokens"),
        cost_nanos=client_cost(data.get("cost_usd")),
        duration_ms=data.get("duration_ms"),
        input_data=data.get("input_data"),
        output_data=data.get("output_data"),
        tool_call=data.get("tool_call"),
        decision_trace=data.get("decision_trace"),
        metadata=data.get("metadata"),
        agent_name=data.get("agent_name"),
        status=status,
        final_tokens_in=data.get("total_tokens_in"),
        final_tokens_out=data.get("total_tokens_out"),
        max_field_bytes=max_field_bytes,
    )


def parse_batch(body, *, max_batch, max_field_bytes):
    """``(events, rejected)`` for a ``POST /events`` body (see shared.parse_each)."""
    items = batch_items(body, max_batch)
    received_ms = now_ms()
    return parse_each(items, lambda item: to_normalised(item, max_field_bytes, received_ms))
