"""Agnost's SDK format: ``capture-session`` and ``capture-event`` (v1 and v2 bodies).

What the real SDKs send differs from the documents, so this is lenient
where they are: ``primitive_type`` may be empty, ``event_id``/``timestamp``
may be missing (v1, agnost-mcp), ids need not be UUIDs, unknown fields are
ignored, and ``args``/``result`` are JSON-encoded strings when they parse.
"""
from marshmallow import ValidationError, fields, validate

from ...timestamps import check_epoch_ms
from ..events import LESSER_NAME, EventError, make_event, session_update
from .shared import NOT_EMPTY, Boolean, JSONValue, Number, SDKSchema, decode

SOURCE = "agnost"


class EpochMs(fields.Integer):
    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        value = super()._validated(value)
        try:
            return check_epoch_ms(value)
        except ValueError:
            raise ValidationError("Not a Unix time in milliseconds.")


class CaptureSession(SDKSchema):
    session_id = fields.String(required=True, validate=NOT_EMPTY)
    client_config = fields.String()
    connection_type = fields.String()
    ip = fields.String()
    tools = fields.List(fields.Raw())
    user_data = JSONValue()
    org_id = fields.String()


class CaptureEvent(SDKSchema):
    session_id = fields.String(required=True, validate=NOT_EMPTY)
    primitive_name = fields.String(required=True, validate=NOT_EMPTY)
    primitive_type = fields.String(load_default="")
    event_id = fields.String(validate=NOT_EMPTY)
    parent_id = fields.String(validate=NOT_EMPTY)
    timestamp = EpochMs()
    latency = Number(allow_nan=False, validate=validate.Range(min=0))
    success = Boolean(load_default=True)
    args = JSONValue()
    result = JSONValue()
    metadata = JSONValue()
    checkpoints = JSONValue()
    org_id = fields.String()


CAPTURE_SESSION = CaptureSession()
CAPTURE_EVENT = CaptureEvent()


def session_start(body, org_id, max_field_bytes, received_ms):
    """``org_id`` is what to keep of the X-Org-Id header (the body's org_id in dev mode)."""
    # capture-session -> a session_start named (rank 1) after the client.
    data = CAPTURE_SESSION.load(body)
    metadata = {key: data[key] for key in ("client_config", "connection_type", "ip", "tools",
                                            "user_data") if key in data}
    org_id = org_id or data.get("org_id")
    if org_id:
        metadata["org_id"] = org_id
    event = make_event(session_id=data["session_id"], event_type="session_start", source=SOURCE,
                       ts=received_ms, metadata=metadata, max_field_bytes=max_field_bytes)
    update = session_update(data["session_id"], received_ms, SOURCE,
                            agent_name=data.get("client_config") or None, name_rank=LESSER_NAME,
                            max_field_bytes=max_field_bytes)
    return event, update


def wrap(key, value):
    return None if value is None else {key: value}


def parent_of(data, metadata):
    """v2's ``parent_id``; the conversation SDK can only pass one as a property."""
    if "parent_id" in data:
        return data["parent_id"]
    parent = (metadata or {}).get("parent_id")
    return parent if isinstance(parent, str) and parent else None


def event_type_of(primitive_type, has_parent, success):
    """tool -> tool_call; resource/prompt keep their name; an untyped event is an
    agent turn, or a tool call when it has a parent (v2's sub-tool chains)."""
    if primitive_type == "tool" or (not primitive_type and has_parent):
        return "tool_call"
    name = primitive_type or "agent_turn"
    return name if success else f"{name}_error"


# The fields a refusal names as the store knows them, as capture-event calls them.
WIRE_NAMES = {"duration_ms": "latency", "agent_name": "primitive_name",
              "tool_name": "primitive_name", "input_data": "args", "output_data": "result",
              "tool_call": "primitive_name, args, result"}


def capture_event(body, org_id, max_field_bytes, received_ms):
    """capture-event -> one normalised event, and the agent's name for an agent turn;
    EventError naming the request's field when one cannot be stored."""
    data = CAPTURE_EVENT.load(body)
    try:
        return event_records(data, org_id, max_field_bytes, received_ms)
    except EventError as error:
        raise error.named(WIRE_NAMES) from None


def event_records(data, org_id, max_field_bytes, received_ms):
    name, success = data["primitive_name"], data["success"]
    args, result = decode(data.get("args")), decode(data.get("result"))
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        metadata = {"value": metadata}
    parent_id = parent_of(data, metadata)
    event_type = event_type_of(data["primitive_type"], parent_id is not None, success)
    if "checkpoints" in data:
        metadata = {**(metadata or {}), "checkpoints": data["checkpoints"]}
    if event_type == "tool_call":
        fields_by_type = {"tool_call": {"name": name, "input": args, "output": result,
                                        "success": success}}
    elif event_type.startswith("agent_turn"):
        fields_by_type = {"input_data": wrap("prompt", args), "output_data": wrap("response", result)}
    else:
        fields_by_type = {"input_data": {"name": name, "args": args},
                          "output_data": wrap("result", result)}
    event = make_event(
        session_id=data["session_id"], event_type=event_type, source=SOURCE,
        event_id=data.get("event_id"), parent_id=parent_id,
        ts=data.get("timestamp", received_ms), duration_ms=data.get("latency"),
        metadata=metadata, max_field_bytes=max_field_bytes, **fields_by_type,
    )
    updates = []
    if event_type.startswith("agent_turn"):
        updates.append(session_update(data["session_id"], event["ts"], SOURCE, agent_name=name,
                                      max_field_bytes=max_field_bytes))
    org_id = org_id or data.get("org_id")
    if org_id:
        updates.append(session_update(data["session_id"], event["ts"], SOURCE,
                                      metadata={"org_id": org_id},
                                      max_field_bytes=max_field_bytes))
    return event, updates
