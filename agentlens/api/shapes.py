"""The shapes of the responses, as JSON Schema for the OpenAPI document.

Request bodies and query parameters are the marshmallow schemas the views
load; responses are built by plain functions (``read/*``), so their shapes
are written here, once, exactly: every property listed is always present
unless named optional, and no other property appears.
"""
STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
ANY = {}  # any JSON value, null included
OBJECT = {"type": "object"}


def nullable(schema):
    return {**schema, "type": [schema["type"], "null"]}


def obj(optional=(), **properties):
    """An object with exactly these properties, all required but ``optional``."""
    return {"type": "object", "properties": properties,
            "required": [name for name in properties if name not in optional],
            "additionalProperties": False}


def array(items):
    return {"type": "array", "items": items}


def const(value):
    return {"const": value}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def mapping(values):
    """An object keyed by names (models, tools, event types)."""
    return {"type": "object", "additionalProperties": values}


STATUS = {"enum": ["active", "completed", "error"]}
SESSION = dict(
    session_id=STRING, agent_name=STRING, started_at=TIME, ended_at=nullable(TIME),
    metadata=OBJECT, total_tokens_in=INTEGER, total_tokens_out=INTEGER, status=STATUS,
    total_cost_usd=NUMBER, cost_complete=BOOLEAN,
)
# A price in USD per million tokens: a number, tiers, or null (none of its own).
PRICE = {"anyOf": [nullable(NUMBER), obj(base=NUMBER, tiers=array(obj(start=INTEGER,
                                                                     price=NUMBER)))]}

COMPONENTS = {
    "Error": obj(
        optional=("rejected",), error=STRING,
        rejected=array(obj(index=INTEGER, error=STRING)),
    ),
    "Health": obj(status=const("ok"), timestamp=TIME),
    "IngestResult": obj(
        optional=("duplicates", "rejected"), status=const("ok"), processed=INTEGER,
        duplicates={"type": "integer", "minimum": 1},
        rejected=array(obj(index=INTEGER, error=STRING)),
    ),
    "Session": obj(**SESSION),
    "SessionDetail": obj(**SESSION, events=array(ref("Event"))),
    "Event": obj(
        event_id=STRING, session_id=STRING, event_type=STRING, timestamp=TIME,
        parent_id=nullable(STRING), trace_id=nullable(STRING), model=nullable(STRING),
        tokens_in=nullable(INTEGER),
        tokens_out=nullable(INTEGER), duration_ms=nullable(NUMBER), input_data=ANY,
        output_data=ANY, tool_call=nullable(OBJECT), decision_trace=ANY,
        metadata=ANY, provider=nullable(STRING),
        cache_read_tokens=nullable(INTEGER), cache_write_tokens=nullable(INTEGER),
        reasoning_tokens=nullable(INTEGER), cost_usd=nullable(NUMBER),
    ),
    "SessionList": obj(sessions=array(ref("Session")), total=INTEGER),
    "Explanation": obj(session_id=STRING, explanation=STRING),
    "Export": obj(
        exported_at=TIME,
        session=obj(
            session_id=STRING, agent_name=STRING, status=STATUS,
            started_at=TIME, ended_at=nullable(TIME), total_tokens_in=INTEGER,
            total_tokens_out=INTEGER, metadata=OBJECT,
        ),
        events=array(ref("Event")),
        summary=obj(total_events=INTEGER, total_tokens=INTEGER, models_used=array(STRING),
                    event_types=array(STRING), total_duration_ms=NUMBER,
                    total_cost_usd=NUMBER, cost_complete=BOOLEAN),
    ),
    "SessionMetrics": obj(
        session_id=STRING, agent_name=STRING, status=STRING, tokens_in=INTEGER,
        tokens_out=INTEGER, total_tokens=INTEGER, event_count=INTEGER, error_count=INTEGER,
        total_processing_ms=NUMBER, avg_event_duration_ms=NUMBER, session_duration_ms=INTEGER,
        models=mapping(obj(calls=INTEGER, tokens_in=INTEGER, tokens_out=INTEGER,
                           cost_usd=nullable(NUMBER))),
        event_types=mapping(INTEGER),
        tools=mapping(obj(calls=INTEGER, total_duration=NUMBER)),
        metadata=OBJECT, cost_usd=NUMBER, cost_complete=BOOLEAN,
    ),
    "Comparison": obj(
        compared_at=TIME, session_a=ref("SessionMetrics"), session_b=ref("SessionMetrics"),
        deltas=obj(**{name: obj(absolute=NUMBER, percent=nullable(NUMBER)) for name in (
            "total_tokens", "tokens_in", "tokens_out", "event_count", "error_count",
            "total_processing_ms", "avg_event_duration_ms", "cost_usd")}),
        shared=obj(event_types=array(STRING), tools=array(STRING), models=array(STRING)),
    ),
    "Analytics": obj(
        overview=obj(
            total_sessions=INTEGER, active_sessions=INTEGER, completed_sessions=INTEGER,
            error_sessions=INTEGER, error_rate=NUMBER, total_events=INTEGER,
            total_tokens=INTEGER, total_tokens_in=INTEGER, total_tokens_out=INTEGER,
            avg_tokens_per_session=NUMBER, earliest_session=nullable(TIME),
            latest_session=nullable(TIME), total_cost_usd=NUMBER,
        ),
        duration=obj(avg_ms=INTEGER, min_ms=INTEGER, max_ms=INTEGER),
        top_agents=array(obj(agent_name=STRING, session_count=INTEGER, total_tokens=INTEGER,
                             avg_tokens=NUMBER, total_cost_usd=NUMBER)),
        model_usage=array(obj(model=STRING, call_count=INTEGER, total_tokens=INTEGER,
                              total_tokens_in=INTEGER, total_tokens_out=INTEGER,
                              avg_duration_ms=NUMBER, cost_usd=nullable(NUMBER))),
        event_types=array(obj(event_type=STRING, count=INTEGER)),
        sessions_over_time=array(obj(day={"type": "string", "format": "date"},
                                     session_count=INTEGER, total_tokens=INTEGER,
                                     cost_usd=NUMBER)),
        hourly_activity=array(obj(hour={"type": "integer", "minimum": 0, "maximum": 23},
                                  event_count=INTEGER)),
        unpriced_models=array(obj(model=nullable(STRING), calls=INTEGER, tokens=INTEGER)),
    ),
    "Prices": obj(
        catalog=STRING,
        models=array(obj(model=STRING, input=PRICE, cached_input=PRICE, cache_write=PRICE,
                         output=PRICE, source=nullable(STRING), valid_from=nullable(TIME))),
        overrides=array(ref("PriceOverride")),
    ),
    "PriceOverride": obj(
        model=STRING, input=NUMBER, cached_input=nullable(NUMBER),
        cache_write=nullable(NUMBER), output=NUMBER, valid_from=nullable(TIME),
        origin={"enum": ["api", "file"]},
    ),
    "PricesDeleted": obj(deleted={"type": "integer", "minimum": 1}),
    "AgnostSession": obj(session_id=STRING),
    "AgnostEvent": obj(success=const(True), event_id=STRING),
    "AgentOpsSession": obj(status=const("success"), jwt=STRING, session_id=STRING,
                           session_url=STRING),
    "AgentOpsToken": obj(status=const("success"), jwt=STRING),
    "AgentOpsSuccess": obj(status=const("success")),
    "AgentOpsAmended": obj(status=const("success"), updated=INTEGER, not_found=array(STRING)),
}
