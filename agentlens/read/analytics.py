"""GET /analytics: aggregates over the sessions table and the per-session rollup.

Session figures (counts, tokens, durations) come from ``sessions``, whose
totals are the session totals (a session_end's final counts win). Event
figures (types, models, hours) come from the rollups kept exact by
store_batch: ``event_rollup`` (a few hundred rows) without filters,
``session_rollup`` (a few rows per session) for the filtered sessions. No
query scans the events table.
"""
from ..db import snapshot
from ..timestamps import format_day, format_ms, now_ms
from .numbers import ratio
from .sessions import session_filters, where_clause

DAY_MS = 86_400_000
TIMELINE_DAYS = 90
TOTAL_IN = "coalesce(final_tokens_in, tokens_in)"
TOTAL_OUT = "coalesce(final_tokens_out, tokens_out)"


def analytics(conn, *, agent_name=None, started_from=None, started_to=None, now=None):
    """Every section of the analytics response, for the sessions the filters select."""
    conditions, params = session_filters(
        agent_name=agent_name, started_from=started_from, started_to=started_to)
    rollup = "event_rollup"
    if conditions:
        rollup = ("(SELECT * FROM session_rollup WHERE session_id IN "
                  f"(SELECT session_id FROM sessions{where_clause(conditions)}))")
    now = now_ms() if now is None else now
    since, until = now - TIMELINE_DAYS * DAY_MS, (now // DAY_MS + 1) * DAY_MS  # to today's end
    with snapshot(conn):
        return {
            "overview": overview(conn, conditions, params),
            "duration": duration(conn, conditions, params),
            "top_agents": top_agents(conn, conditions, params),
            "model_usage": model_usage(conn, rollup, params),
            "event_types": event_types(conn, rollup, params),
            "sessions_over_time": sessions_over_time(conn, conditions, params, since, until),
            "hourly_activity": hourly_activity(conn, rollup, params),
        }


def overview(conn, conditions, params):
    row = conn.execute(f"""
        SELECT count(*) AS sessions,
               count(*) FILTER (WHERE status = 'active') AS active,
               count(*) FILTER (WHERE status = 'completed') AS completed,
               count(*) FILTER (WHERE status = 'error') AS errors,
               coalesce(sum(event_count), 0) AS events,
               coalesce(sum({TOTAL_IN}), 0) AS tokens_in,
               coalesce(sum({TOTAL_OUT}), 0) AS tokens_out,
               min(started_at) AS earliest, max(started_at) AS latest
        FROM sessions{where_clause(conditions)}""", params).fetchone()
    total_tokens = row["tokens_in"] + row["tokens_out"]
    return {
        "total_sessions": row["sessions"],
        "active_sessions": row["active"],
        "completed_sessions": row["completed"],
        "error_sessions": row["errors"],
        "error_rate": ratio(row["errors"], row["sessions"], scale=100),
        "total_events": row["events"],
        "total_tokens": total_tokens,
        "total_tokens_in": row["tokens_in"],
        "total_tokens_out": row["tokens_out"],
        "avg_tokens_per_session": ratio(total_tokens, row["sessions"], places=0),
        "earliest_session": format_ms(row["earliest"]),
        "latest_session": format_ms(row["latest"]),
    }


def duration(conn, conditions, params):
    """Wall-clock duration of the sessions that have ended."""
    row = conn.execute(f"""
        SELECT count(*) AS ended, sum(ended_at - started_at) AS total_ms,
               min(ended_at - started_at) AS min_ms, max(ended_at - started_at) AS max_ms
        FROM sessions{where_clause(conditions + ["ended_at IS NOT NULL"])}""", params).fetchone()
    if not row["ended"]:
        return {"avg_ms": 0, "min_ms": 0, "max_ms": 0}
    return {"avg_ms": ratio(row["total_ms"], row["ended"]), "min_ms": row["min_ms"],
            "max_ms": row["max_ms"]}


def top_agents(conn, conditions, params, limit=10):
    rows = conn.execute(f"""
        SELECT agent_name, count(*) AS sessions, sum({TOTAL_IN} + {TOTAL_OUT}) AS tokens
        FROM sessions{where_clause(conditions)}
        GROUP BY agent_name
        ORDER BY tokens DESC, sessions DESC, agent_name
        LIMIT :limit""", {**params, "limit": limit})
    return [
        {"agent_name": row["agent_name"], "session_count": row["sessions"],
         "total_tokens": row["tokens"], "avg_tokens": ratio(row["tokens"], row["sessions"], places=0)}
        for row in rows
    ]


def model_usage(conn, rollup, params):
    rows = conn.execute(f"""
        SELECT model, sum(events) AS calls, sum(tokens_in) AS tokens_in,
               sum(tokens_out) AS tokens_out, sum(duration_us) AS duration_us,
               sum(timed_events) AS timed
        FROM {rollup} WHERE model != ''
        GROUP BY model
        ORDER BY calls DESC, model""", params)
    return [
        {"model": row["model"], "call_count": row["calls"],
         "total_tokens": row["tokens_in"] + row["tokens_out"],
         "total_tokens_in": row["tokens_in"], "total_tokens_out": row["tokens_out"],
         "avg_duration_ms": ratio(row["duration_us"], row["timed"] * 1000)}
        for row in rows
    ]


def event_types(conn, rollup, params):
    rows = conn.execute(f"""
        SELECT event_type, sum(events) AS count FROM {rollup}
        GROUP BY event_type ORDER BY count DESC, event_type""", params)
    return [{"event_type": row["event_type"], "count": row["count"]} for row in rows]


def sessions_over_time(conn, conditions, params, since, until):
    """Sessions by UTC day of their start, over the last 90 days (none from the future)."""
    rows = conn.execute(f"""
        SELECT started_at / {DAY_MS} AS day, count(*) AS sessions,
               sum({TOTAL_IN} + {TOTAL_OUT}) AS tokens
        FROM sessions{where_clause(conditions + ["started_at >= :since", "started_at < :until"])}
        GROUP BY day ORDER BY day""", {**params, "since": since, "until": until})
    return [
        {"day": format_day(row["day"]), "session_count": row["sessions"], "total_tokens": row["tokens"]}
        for row in rows
    ]


def hourly_activity(conn, rollup, params):
    rows = conn.execute(f"""
        SELECT hour, sum(events) AS count FROM {rollup}
        GROUP BY hour ORDER BY hour""", params)
    return [{"hour": row["hour"], "event_count": row["count"]} for row in rows]
