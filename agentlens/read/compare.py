"""POST /sessions/compare: two sessions' metrics side by side, B relative to A."""
from ..pricing.money import usd
from ..rules import COUNTED, is_counted, session_duration_ms
from ..timestamps import format_ms, now_ms
from .numbers import exact, milliseconds, ratio, round_half_up
from .sessions import event_rows, session_metadata

DELTA_METRICS = ("total_tokens", "tokens_in", "tokens_out", "event_count", "error_count",
                 "total_processing_ms", "avg_event_duration_ms", "cost_usd")
PLACES = {"cost_usd": 6}  # decimals of an absolute delta that is not an integer (else 3)


def session_metrics(conn, session_id):
    """The metrics of one session (counted events only), or None if it is unknown."""
    session = conn.execute("""
        SELECT session_id, agent_name, status, metadata, start_metadata, started_at, ended_at,
               last_event_at, total_tokens_in AS tokens_in, total_tokens_out AS tokens_out,
               cost_nanos, unpriced_events
        FROM sessions WHERE session_id = ?""", (session_id,)).fetchone()
    if session is None:
        return None
    model_costs = model_cost_usd(conn, session_id)
    models, event_types, tools = first_seen(conn, session_id)
    totals = conn.execute(f"""
        SELECT count(*) AS events, coalesce(sum(is_error), 0) AS errors,
               coalesce(sum({conn.duration_us_sql}), 0) AS duration_us, count(duration_ms) AS timed
        FROM events WHERE session_id = ? AND {COUNTED}""", (session_id,)).fetchone()
    return {
        "session_id": session["session_id"],
        "agent_name": session["agent_name"],
        "status": session["status"],
        "tokens_in": session["tokens_in"],
        "tokens_out": session["tokens_out"],
        "total_tokens": session["tokens_in"] + session["tokens_out"],
        "cost_usd": usd(session["cost_nanos"]),
        "cost_complete": session["unpriced_events"] == 0,
        "event_count": totals["events"],
        "error_count": totals["errors"],
        "total_processing_ms": milliseconds(totals["duration_us"]),
        "avg_event_duration_ms": ratio(totals["duration_us"], totals["timed"] * 1000),
        "session_duration_ms": session_duration_ms(
            session["started_at"], session["ended_at"], session["last_event_at"]),
        "models": in_order(models, {
            row["model"]: {"calls": row["calls"], "tokens_in": row["tokens_in"],
                           "tokens_out": row["tokens_out"],
                           "cost_usd": model_costs.get(row["model"])}
            for row in conn.execute(f"""
                SELECT model, count(*) AS calls, coalesce(sum(tokens_in), 0) AS tokens_in,
                       coalesce(sum(tokens_out), 0) AS tokens_out
                FROM events WHERE session_id = ? AND {COUNTED} AND model IS NOT NULL
                GROUP BY model""", (session_id,))
        }),
        "event_types": in_order(event_types, {
            row["event_type"]: row["count"]
            for row in conn.execute(f"""
                SELECT event_type, count(*) AS count FROM events
                WHERE session_id = ? AND {COUNTED}
                GROUP BY event_type""", (session_id,))
        }),
        "tools": in_order(tools, {
            row["tool"]: {"calls": row["calls"], "total_duration": milliseconds(row["duration_us"])}
            for row in conn.execute(f"""
                SELECT {TOOL} AS tool, count(*) AS calls,
                       coalesce(sum({conn.duration_us_sql}), 0) AS duration_us
                FROM events WHERE session_id = ? AND {COUNTED} AND tool_call IS NOT NULL
                GROUP BY tool""", (session_id,))
        }),
        "metadata": session_metadata(session),
    }


TOOL = "coalesce(tool_name, 'unknown')"  # a tool call's name in compare's tools


def first_seen(conn, session_id):
    """The session's models, event types and tools (counted events only), each in order
    of first appearance: the order in which the session lists its events (by time,
    then arrival). Only the names are read here; the figures are summed in SQL."""
    models, event_types, tools = {}, {}, {}
    for model, event_type, tool in event_rows(
            conn, session_id, f"model, event_type, CASE WHEN tool_call IS NOT NULL THEN {TOOL} END"):
        if not is_counted(event_type):
            continue
        models.setdefault(model)
        event_types.setdefault(event_type)
        tools.setdefault(tool)
    return models, event_types, tools


def in_order(names, figures):
    """``figures`` keyed by name, in the order of ``names`` (which holds every key)."""
    return {name: figures[name] for name in names if name in figures}


def model_cost_usd(conn, session_id):
    """``{model: cost_usd}`` of a session's events, from its rollup rows; None for a
    model that some event used with tokens but no price (its cost is unknown)."""
    return {row["model"]: None if row["unpriced"] else usd(row["cost_nanos"])
            for row in conn.execute(
                "SELECT model, sum(cost_nanos) AS cost_nanos, sum(unpriced_events) AS unpriced "
                "FROM session_rollup WHERE session_id = ? AND model != '' GROUP BY model",
                (session_id,))}


def delta(a, b, places=3):
    """B relative to A, from the values as reported: percent is 0 when both are 0
    and None when only A is 0."""
    difference = exact(b) - exact(a)
    absolute = b - a if isinstance(b - a, int) else round_half_up(difference, places)
    if a == 0:
        percent = 0 if b == 0 else None
    else:
        percent = ratio(difference, a, scale=100)
    return {"absolute": absolute, "percent": percent}


def compare(metrics_a, metrics_b):
    return {
        "compared_at": format_ms(now_ms()),
        "session_a": metrics_a,
        "session_b": metrics_b,
        "deltas": {name: delta(metrics_a[name], metrics_b[name], PLACES.get(name, 3))
                   for name in DELTA_METRICS},
        # What either session has, as the reference's example and its server give it
        # (its example lists a type only session B has): A's in A's order, then B's.
        "shared": {key: list(dict.fromkeys([*metrics_a[key], *metrics_b[key]]))
                   for key in ("event_types", "tools", "models")},
    }
