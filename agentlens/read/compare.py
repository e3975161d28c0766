"""POST /sessions/compare: two sessions' metrics side by side, B relative to A."""
import functools
from collections import Counter

from .. import jsonstrict
from ..db import snapshot
from ..pricing.money import usd
from ..rules import COUNTED, session_duration_ms
from ..timestamps import format_ms, now_ms
from .kept import KeptByRevision
from .numbers import exact, milliseconds, ratio, round_half_up
from .sessions import session_metadata

DELTA_METRICS = ("total_tokens", "tokens_in", "tokens_out", "event_count", "error_count",
                 "total_processing_ms", "avg_event_duration_ms", "cost_usd")
# Kept beside the figures, not shown: cost's delta is taken from the exact costs, as
# they are shown to 6 places while a call can cost less than a millionth of a dollar.
HIDDEN = ("cost_nanos",)


# Each session's figures at their revision (not its metadata, read fresh), measured by
# their JSON: a session with thousands of models or tools is computed each time.
KEPT = KeptByRevision(128, max_bytes=64 * 1024)


def session_metrics(conn, session_id):
    """The metrics of one session (counted events only), or None if it is unknown.
    Their nested values are shared with other callers (kept by revision): not to be
    changed."""
    with snapshot(conn):
        session = conn.execute("""
            SELECT session_id, agent_name, status, metadata, start_metadata, started_at,
                   ended_at, last_event_at, total_tokens_in AS tokens_in,
                   total_tokens_out AS tokens_out, cost_nanos, unpriced_events, revision
            FROM sessions WHERE session_id = ?""", (session_id,)).fetchone()
        if session is None:
            return None
        figures = KEPT.get(session_id, session["revision"])
        if figures is None:
            figures = measure(conn, session)
            KEPT.put(session_id, session["revision"], figures,
                     len(jsonstrict.encode_bytes(figures)))
    return {**figures, "metadata": session_metadata(session)}


def measure(conn, session):
    """The metrics of a session's row as read, from its events, but its metadata."""
    session_id = session["session_id"]
    model_costs = model_cost_usd(conn, session_id)
    groups = conn.execute(event_groups_sql(conn.duration_us_sql), (session_id,)).fetchall()
    models, event_types, tools = {}, {}, {}
    for group in groups:  # in order of first appearance: so is each name's first group
        event_types[group["event_type"]] = event_types.get(group["event_type"], 0) + group["events"]
        if group["model"] is not None:
            models.setdefault(group["model"], Counter()).update(
                calls=group["events"], tokens_in=group["tokens_in"], tokens_out=group["tokens_out"])
        if group["tool"] is not None:
            tools.setdefault(group["tool"], Counter()).update(
                calls=group["events"], duration_us=group["duration_us"])
    events, errors, duration_us, timed = (sum(group[column] for group in groups) for column in
                                          ("events", "errors", "duration_us", "timed"))
    return {
        "session_id": session["session_id"],
        "agent_name": session["agent_name"],
        "status": session["status"],
        "tokens_in": session["tokens_in"],
        "tokens_out": session["tokens_out"],
        "total_tokens": session["tokens_in"] + session["tokens_out"],
        "cost_usd": usd(session["cost_nanos"]),
        "cost_nanos": session["cost_nanos"],
        "cost_complete": session["unpriced_events"] == 0,
        "event_count": events,
        "error_count": errors,
        "total_processing_ms": milliseconds(duration_us),
        "avg_event_duration_ms": ratio(duration_us, timed * 1000),
        "session_duration_ms": session_duration_ms(
            session["started_at"], session["ended_at"], session["last_event_at"]),
        "models": {model: {"calls": sums["calls"], "tokens_in": sums["tokens_in"],
                           "tokens_out": sums["tokens_out"], "cost_usd": model_costs.get(model)}
                   for model, sums in models.items()},
        "event_types": event_types,
        "tools": {tool: {"calls": sums["calls"], "total_duration": milliseconds(sums["duration_us"])}
                  for tool, sums in tools.items()},
    }


TOOL = "coalesce(tool_name, 'unknown')"  # a tool call's name in compare's tools


@functools.cache
def event_groups_sql(duration_us_sql):
    """A session's counted events summed by model, type and tool, each group with the
    position of its first event in the session's order (by time, then arrival), first
    groups first: one pass over the events gives every figure and every order."""
    return f"""
SELECT model, event_type, tool, min(position) AS first, count(*) AS events,
       coalesce(sum(is_error), 0) AS errors, coalesce(sum(tokens_in), 0) AS tokens_in,
       coalesce(sum(tokens_out), 0) AS tokens_out,
       coalesce(sum({duration_us_sql}), 0) AS duration_us, count(duration_ms) AS timed
FROM (SELECT model, event_type, CASE WHEN tool_call IS NOT NULL THEN {TOOL} END AS tool,
             is_error, tokens_in, tokens_out, duration_ms,
             row_number() OVER (ORDER BY ts, id) AS position
      FROM events WHERE session_id = ? AND {COUNTED}) AS counted
GROUP BY model, event_type, tool
ORDER BY first"""


def model_cost_usd(conn, session_id):
    """``{model: cost_usd}`` of a session's events, from its rollup rows; None for a
    model that some event used with tokens but no price (its cost is unknown)."""
    return {row["model"]: None if row["unpriced"] else usd(row["cost_nanos"])
            for row in conn.execute(
                "SELECT model, sum(cost_nanos) AS cost_nanos, sum(unpriced_events) AS unpriced "
                "FROM session_rollup WHERE session_id = ? AND model != '' GROUP BY model",
                (session_id,))}


def delta(a, b):
    """B relative to A, from the values as reported (3 decimals when not integers)."""
    difference = exact(b) - exact(a)
    absolute = b - a if isinstance(b - a, int) else round_half_up(difference, 3)
    return {"absolute": absolute, "percent": percent(difference, a, b)}


def cost_delta(a_nanos, b_nanos):
    """B's cost relative to A's, from their exact costs in nano-dollars."""
    return {"absolute": usd(b_nanos - a_nanos), "percent": percent(b_nanos - a_nanos, a_nanos,
                                                                   b_nanos)}


def percent(difference, a, b):
    """``difference`` in percent of ``a``: 0 when both are 0, None when only A is 0."""
    if a == 0:
        return 0 if b == 0 else None
    return ratio(difference, a, scale=100)


def shown(metrics):
    return {key: value for key, value in metrics.items() if key not in HIDDEN}


def compare(metrics_a, metrics_b):
    return {
        "compared_at": format_ms(now_ms()),
        "session_a": shown(metrics_a),
        "session_b": shown(metrics_b),
        "deltas": {name: (cost_delta(metrics_a["cost_nanos"], metrics_b["cost_nanos"])
                          if name == "cost_usd" else delta(metrics_a[name], metrics_b[name]))
                   for name in DELTA_METRICS},
        # What either session has, as the reference's example and its server give it
        # (its example lists a type only session B has): A's in A's order, then B's.
        "shared": {key: list(dict.fromkeys([*metrics_a[key], *metrics_b[key]]))
                   for key in ("event_types", "tools", "models")},
    }
