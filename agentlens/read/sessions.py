"""Sessions and their events, as the API returns them."""
from .. import jsonstrict
from ..pricing.money import usd
from ..rules import session_duration_ms
from ..timestamps import format_ms
from . import buckets

SESSION_COLUMNS = """
    session_id, agent_name, started_at, ended_at, metadata, start_metadata,
    total_tokens_in, total_tokens_out, status, cost_nanos, unpriced_events
"""
EVENT_COLUMNS = """
    event_id, session_id, event_type, ts, parent_id, model, tokens_in, tokens_out,
    duration_ms, input_data, output_data, tool_call, decision_trace, metadata,
    provider, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, trace_id
"""
MAX_LIMIT = 200


def loads(text):
    return None if text is None else jsonstrict.loads(text)


def raw(text):
    """Stored JSON text, passed into a response as it is (no parsing, no depth added)."""
    return None if text is None else jsonstrict.Fragment(text)


def session_metadata(row):
    """The session_start's metadata as sent, with what SDK updates merged in over it."""
    merged = jsonstrict.loads(row["metadata"])
    if row["start_metadata"] is None:
        return merged
    return {**jsonstrict.loads(row["start_metadata"]), **merged}


def session_dict(row):
    return {
        "session_id": row["session_id"],
        "agent_name": row["agent_name"],
        "started_at": format_ms(row["started_at"]),
        "ended_at": format_ms(row["ended_at"]),
        "metadata": session_metadata(row),
        "total_tokens_in": row["total_tokens_in"],
        "total_tokens_out": row["total_tokens_out"],
        "total_cost_usd": usd(row["cost_nanos"]),  # its priced events'
        "cost_complete": row["unpriced_events"] == 0,  # no event has tokens but no price
        "status": row["status"],
    }


def event_dict(row, decode=loads):
    """An event as the API returns it; ``decode=raw`` keeps its JSON fields as stored text.
    The row holds EVENT_COLUMNS in their order (unpacked: a third of the cost of reading
    twenty columns by name). ``trace_id``: an OTLP span's trace, which with its
    ``event_id`` names it (two traces of a session may reuse a span id); null otherwise."""
    (event_id, session_id, event_type, ts, parent_id, model, tokens_in, tokens_out,
     duration_ms, input_data, output_data, tool_call, decision_trace, metadata,
     provider, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos,
     trace_id) = row
    return {
        "event_id": event_id,
        "session_id": session_id,
        "event_type": event_type,
        "timestamp": format_ms(ts),
        "parent_id": parent_id,
        "trace_id": trace_id or None,
        "model": model,
        "provider": provider,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cache_read_tokens": cache_read_tokens,
        "cache_write_tokens": cache_write_tokens,
        "reasoning_tokens": reasoning_tokens,
        "cost_usd": usd(cost_nanos),  # null when unpriced
        "duration_ms": duration_ms,
        "input_data": decode(input_data),
        "output_data": decode(output_data),
        "tool_call": decode(tool_call),
        "decision_trace": decode(decision_trace),
        "metadata": decode(metadata),
    }


def where_clause(conditions):
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def session_filters(*, status=None, agent_name=None, started_from=None, started_to=None):
    """``(conditions, params)`` for the session list's filters.

    ``started_from``/``started_to`` are epoch ms; the range is [from, to).
    """
    where, params = [], {}
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    if agent_name is not None:
        where.append("agent_name = :agent_name")
        params["agent_name"] = agent_name
    if started_from is not None:
        where.append("started_at >= :started_from")
        params["started_from"] = started_from
    if started_to is not None:
        where.append("started_at < :started_to")
        params["started_to"] = started_to
    return where, params


def page_rows(conn, limit, offset, filters):
    conditions, params = session_filters(**filters)
    params.update(limit=min(limit, MAX_LIMIT), offset=offset)
    return conn.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions{where_clause(conditions)} "
        "ORDER BY started_at DESC, session_id LIMIT :limit OFFSET :offset", params)


def count_sessions(conn, *, status=None, agent_name=None, started_from=None, started_to=None):
    """How many sessions the filters select, from the session rollups."""
    return buckets.session_sums(conn, started_from, started_to, agent_name, status)["sessions"]


def list_sessions(conn, *, limit=50, offset=0, **filters):
    """Newest first; ``limit`` is capped at 200. Returns ``(sessions, total)``."""
    return ([session_dict(row) for row in page_rows(conn, limit, offset, filters)],
            count_sessions(conn, **filters))


def session_list_json(conn, *, limit=50, offset=0, **filters):
    """``GET /sessions`` as pieces of JSON (bytes), a session at a time."""
    yield b'{"sessions":['
    separator = b""
    for row in page_rows(conn, limit, offset, filters):
        yield separator + compact(session_dict(row))
        separator = b","
    yield f'],"total":{count_sessions(conn, **filters)}}}'.encode()


class SessionNotFound(LookupError):
    """No session has the id asked for (a 404, errors.py)."""


def get_session(conn, session_id):
    """The session as listed, or None."""
    row = conn.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
    ).fetchone()
    return None if row is None else session_dict(row)


def existing_session(conn, session_id):
    """The session as listed; SessionNotFound if there is none."""
    session = get_session(conn, session_id)
    if session is None:
        raise SessionNotFound(session_id)
    return session


def event_rows(conn, session_id, columns=EVENT_COLUMNS):
    """A cursor over the session's events, oldest first (ties in arrival order)."""
    return conn.execute(
        f"SELECT {columns} FROM events WHERE session_id = ? ORDER BY ts, id", (session_id,))


def iter_events(conn, session_id, decode=loads):
    """The session's events, as the API returns them, from a cursor."""
    for row in event_rows(conn, session_id):
        yield event_dict(row, decode)


def session_figures(conn, session_ids):
    """``{session_id: {"duration_ms", "event_count"}}`` for a few sessions (a page of
    the list): the wall-clock length and the number of counted events."""
    if not session_ids:
        return {}
    marks = ", ".join("?" * len(session_ids))
    rows = conn.execute(
        "SELECT session_id, started_at, ended_at, last_event_at, event_count FROM sessions "
        f"WHERE session_id IN ({marks})", list(session_ids))
    return {row["session_id"]: {
        "duration_ms": session_duration_ms(row["started_at"], row["ended_at"], row["last_event_at"]),
        "event_count": row["event_count"]} for row in rows}


def event_outline(conn, session_id):
    """Every event of the session without its data, oldest first (ties in arrival
    order): rows of ``id, trace_id, event_id, parent_id, event_type, model, tool_name``,
    the shape of a timeline that is then read a page at a time with :func:`events_by_row`."""
    return conn.execute(
        "SELECT id, trace_id, event_id, parent_id, event_type, model, tool_name FROM events "
        "WHERE session_id = ? ORDER BY ts, id", (session_id,)).fetchall()


def events_by_row(conn, session_id, row_ids):
    """``{row id: event}`` for the given events of one session (a few hundred at most),
    by their rows' ids: an event id alone names one only within its trace."""
    if not row_ids:
        return {}
    marks = ", ".join("?" * len(row_ids))
    rows = conn.execute(
        f"SELECT id, {EVENT_COLUMNS} FROM events WHERE session_id = ? AND id IN ({marks})",
        [session_id, *row_ids])
    return {row[0]: event_dict(tuple(row)[1:]) for row in rows}


def json_with_events(head, events, tail=None):
    """``head`` as a JSON object with an ``events`` array, as pieces of JSON (bytes): the
    events are serialised one at a time (an event may hold megabytes). ``tail()``,
    called once they are, gives keys to add after."""
    yield compact(head)[:-1] + b',"events":['
    separator = b""
    for event in events:
        yield separator + compact(event)
        separator = b","
    yield b"]" + (b"," + compact(tail())[1:] if tail else b"}")


def compact(value):
    """JSON as the other responses are written: no spaces (UTF-8 bytes)."""
    return jsonstrict.encode_bytes(value)


def session_json(conn, session_id):
    """``GET /sessions/<id>``: the session and all its events, streamed."""
    session = existing_session(conn, session_id)
    return json_with_events(session, iter_events(conn, session_id, raw))
