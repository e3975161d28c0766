"""AgentOps' REST v2 format: sessions, events (created and amended) and agents.

The real 0.3.x SDK sends ``session.session_id`` (the document says ``id``),
plural event types (``llms``, ``tools``, ``actions``, ``errors``; the
document says ``type: llm``), tool input/output as ``params``/``returns``,
and internal attributes as extra keys; all of it is accepted.
"""
from marshmallow import ValidationError, fields, pre_load

from ..events import check_sizes, make_event, session_update, to_json
from .shared import (NOT_EMPTY, Cost, Count, JSONValue, SDKSchema, Text, Timestamp, client_cost,
                     drop_nulls, parse_each)

SOURCE = "agentops"
COST = Cost()
EVENT_TYPES = {"llm": "llm_call", "llms": "llm_call", "tool": "tool_call", "tools": "tool_call",
               "action": "action", "actions": "action", "error": "error", "errors": "error"}
# The SDK sends Success/Fail/Indeterminate; the document's example says "completed".
END_STATES = {"success": "completed", "completed": "completed", "fail": "error",
              "error": "error", "indeterminate": "active"}


def known_end_state(value):
    if value.lower() not in END_STATES:
        raise ValidationError("Must be one of: Success, Fail, Indeterminate.")
    return True


class SessionBody(SDKSchema):
    session_id = fields.String(validate=NOT_EMPTY)
    id = fields.String(validate=NOT_EMPTY)
    init_timestamp = Timestamp()
    end_timestamp = Timestamp()
    end_state = fields.String(validate=known_end_state)
    end_state_reason = fields.String()
    tags = JSONValue()
    host_env = JSONValue()

    @pre_load
    def treat_null_as_missing(self, data, **kwargs):
        """Also accepts ``{"session": {...}}``, as the SDK and the v2 examples send,
        besides the fields bare."""
        data = drop_nulls(data, "body")
        if isinstance(data.get("session"), dict):
            return drop_nulls(data["session"], "session")
        return data


class EventBody(SDKSchema):
    subject = "event"

    id = fields.String(validate=NOT_EMPTY)
    event_id = fields.String(validate=NOT_EMPTY)
    type = fields.String()
    event_type = fields.String()
    session_id = fields.String()
    init_timestamp = Timestamp()
    end_timestamp = Timestamp()
    model = fields.String()
    prompt = JSONValue()
    completion = JSONValue()
    prompt_tokens = Count()
    completion_tokens = Count()
    name = fields.String()
    tool_name = fields.String()
    input = JSONValue()
    output = JSONValue()
    params = JSONValue()
    returns = JSONValue()
    action_type = fields.String()
    logs = JSONValue()
    screenshot = JSONValue()
    error_type = fields.String()
    code = JSONValue()
    details = JSONValue()
    agent_id = fields.String()
    cost = JSONValue()


class AgentBody(SDKSchema):
    id = fields.String()
    name = fields.String(required=True, validate=NOT_EMPTY)


class ReauthorizeBody(SDKSchema):
    session_id = Text(required=True, validate=NOT_EMPTY)


SESSION_BODY = SessionBody()
EVENT_BODY = EventBody()
AGENT_BODY = AgentBody()
REAUTHORIZE_BODY = ReauthorizeBody()


def session_id_of(data):
    session_id = data.get("session_id", data.get("id"))
    if session_id is None:
        raise ValidationError("Missing data for required field.", "session.session_id")
    return session_id


def session_metadata(data):
    """What describes the session itself (how it ended is its status and its
    session_end event's metadata)."""
    metadata = {key: data[key] for key in ("tags", "host_env") if key in data}
    return metadata or None


def create_session(body, received_ms, max_field_bytes):
    """create_session -> a session_start event (no name: create_agent gives it)."""
    data = SESSION_BODY.load(body)
    session_id = session_id_of(data)
    event = make_event(session_id=session_id, event_type="session_start", source=SOURCE,
                       ts=data.get("init_timestamp", received_ms),
                       metadata=session_metadata(data), max_field_bytes=max_field_bytes)
    return session_id, event


def update_session(body, token_session, received_ms, max_field_bytes):
    """update_session -> a session_end when it ends the session, else a metadata update.

    It ends the session when it has an ``end_timestamp`` and an end state other
    than Indeterminate (the SDK sends that one for updates like ``add_tags``;
    such a session stays active). Returns ``(session_id, events, session_updates)``.
    """
    data = SESSION_BODY.load(body)
    session_id = data.get("session_id", data.get("id", token_session))
    metadata = session_metadata(data)
    status = END_STATES[data.get("end_state", "Success").lower()]
    updates = [session_update(session_id, received_ms, SOURCE, metadata=metadata,
                              max_field_bytes=max_field_bytes)]
    if "end_timestamp" not in data or status == "active":
        return session_id, [], updates
    # One id per end time: a retry is recognised, a later end is kept and wins.
    end = {key: data[key] for key in ("end_state", "end_state_reason") if key in data}
    event = make_event(session_id=session_id, event_type="session_end", source=SOURCE,
                       event_id=f"{session_id}:{SOURCE}:session_end:{data['end_timestamp']}",
                       ts=data["end_timestamp"], status=status, metadata=end or None,
                       max_field_bytes=max_field_bytes)
    return session_id, [event], updates


def duration_of(data):
    if "init_timestamp" in data and "end_timestamp" in data:
        return max(0, data["end_timestamp"] - data["init_timestamp"])
    return None


def sdk_cost(value):
    """The SDK's ``cost`` (USD) when it is a usable number, in nano-dollars; anything
    else is no cost of the client's (and is kept on the event's metadata)."""
    try:
        return client_cost(COST.deserialize(value))
    except ValidationError:
        return None


def event_fields(data):
    """The normalised fields of one AgentOps event, by its type."""
    kind = EVENT_TYPES.get((data.get("event_type") or data.get("type") or "").lower())
    extras = {key: data[key] for key in ("agent_id", "logs", "screenshot", "action_type")
              if key in data}
    cost = sdk_cost(data.get("cost"))
    if "cost" in data and cost is None:
        extras["cost"] = data["cost"]
    result = {"event_type": kind or data.get("event_type") or data.get("type") or "generic",
              "metadata": extras or None, "cost_nanos": cost}
    if kind == "llm_call":
        result.update(model=data.get("model"), tokens_in=data.get("prompt_tokens"),
                      tokens_out=data.get("completion_tokens"))
        if "prompt" in data:
            result["input_data"] = {"prompt": data["prompt"]}
        if "completion" in data:
            result["output_data"] = {"completion": data["completion"]}
    elif kind == "tool_call":
        result["tool_call"] = {
            "name": data.get("name", data.get("tool_name")),
            "input": data.get("input", data.get("params")),
            "output": data.get("output", data.get("returns")),
        }
    elif kind == "error":
        result["output_data"] = {key: data[key] for key in ("error_type", "code", "details")
                                 if key in data}
        result["output_data"]["error"] = data.get("details") or data.get("error_type")
    else:
        if "params" in data or "input" in data:
            result["input_data"] = data.get("input", data.get("params"))
        if "returns" in data or "output" in data:
            result["output_data"] = data.get("output", data.get("returns"))
    return result


def create_events(items, session_id, received_ms, max_field_bytes):
    """create_events -> ``(events, rejected)``, each event validated on its own."""

    def parse_one(raw):
        data = EVENT_BODY.load(raw)
        return make_event(
            session_id=session_id, source=SOURCE, event_id=data.get("id", data.get("event_id")),
            ts=data.get("init_timestamp", received_ms), duration_ms=duration_of(data),
            max_field_bytes=max_field_bytes, **event_fields(data),
        )

    return parse_each(items, parse_one)


def amendment(raw, max_field_bytes):
    """update_events: the fields to change on a stored event (see store.AMEND_EVENT)."""
    data = EVENT_BODY.load(raw)
    event_id = data.get("id", data.get("event_id"))
    if event_id is None:
        raise ValidationError("Missing data for required field.", "id")
    changes = {
        "event_id": event_id,
        "model": data.get("model"),
        "tokens_in": data.get("prompt_tokens"),
        "tokens_out": data.get("completion_tokens"),
        "cost_nanos": sdk_cost(data.get("cost")),
        "input_data": to_json({"prompt": data["prompt"]}, "prompt") if "prompt" in data else None,
        "output_data": (to_json({"completion": data["completion"]}, "completion")
                        if "completion" in data else None),
        "returns": to_json(data.get("output", data.get("returns")), "output"),
        "end_ts": data.get("end_timestamp"),
    }
    return check_sizes(changes, max_field_bytes)


def create_agent(body, session_id, received_ms, max_field_bytes):
    """create_agent -> the session's name (explicit) and ``{agents: {id: name}}``."""
    data = AGENT_BODY.load(body)
    agents = {"agents": {data["id"]: data["name"]}} if "id" in data else None
    return session_update(session_id, received_ms, SOURCE, agent_name=data["name"],
                          metadata=agents, max_field_bytes=max_field_bytes)


def reauthorized_session(body):
    return REAUTHORIZE_BODY.load(body)["session_id"]
