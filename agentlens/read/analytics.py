"""GET /analytics: aggregates over the sessions the filters select, from the rollups.

Session figures (counts, tokens, durations) are sums of the session rollups,
whose token totals are the sessions' as stated (a session_end's final counts
win); event figures (types, models, hours) are sums of the event rollups. The
filters select sessions by agent and by start; buckets.py turns them into a
few rollup ranges, so no query grows with the number of sessions or events.
"""
from collections import defaultdict

from ..db import snapshot
from ..pricing.money import usd
from ..rollups import EVENT_MEASURES
from ..rules import DAY_MS
from ..timestamps import format_day, format_ms, now_ms
from . import buckets
from .numbers import ratio

TIMELINE_DAYS = 90
TOP_AGENTS = 10


def analytics(conn, *, agent_name=None, started_from=None, started_to=None, now=None):
    """Every section of the analytics response, for the sessions the filters select."""
    now = now_ms() if now is None else now
    # The last 90 x 24 h, to the end of today (nothing from later days).
    since, until = now - TIMELINE_DAYS * DAY_MS, (now // DAY_MS + 1) * DAY_MS
    timeline_from = since if started_from is None else max(since, started_from)
    timeline_to = until if started_to is None else min(until, started_to)
    selected = {"agent_name": agent_name, "started_from": started_from,
                "started_to": started_to}
    with snapshot(conn):
        by_agent = buckets.session_sums(conn, started_from, started_to, agent_name,
                                        group="agent")
        sums = buckets.SessionSums.total(by_agent.values())
        models, clock = buckets.event_sums(conn, started_from, started_to, agent_name)
        by_day = (buckets.session_sums(conn, timeline_from, timeline_to, agent_name, group="day")
                  if timeline_from < timeline_to else {})
        earliest, latest = start_range(conn, **selected)
    return {
        "overview": overview(sums, earliest, latest),
        "duration": duration(sums),
        "top_agents": top_agents(by_agent),
        "model_usage": model_usage(models),
        "event_types": event_types(models),
        "sessions_over_time": sessions_over_time(by_day),
        "hourly_activity": [{"hour": hour, "event_count": count}
                            for hour, count in sorted(clock.items()) if count],
        "unpriced_models": unpriced_models(models),
    }


def session_overview(conn, *, status=None, agent_name=None, started_from=None, started_to=None):
    """The overview section for the sessions a session-list filter selects."""
    sums = buckets.session_sums(conn, started_from, started_to, agent_name, status)
    return overview(sums, *start_range(conn, status=status, agent_name=agent_name,
                                       started_from=started_from, started_to=started_to))


def start_range(conn, *, status=None, agent_name=None, started_from=None, started_to=None):
    """The earliest and latest start of the selected sessions, each an index seek
    (SQLite answers a lone min() or max() from the index's first or last entry)."""
    conditions, params = buckets.conditions_for(agent_name, status)
    if started_from is not None:
        conditions.append("started_at >= ?")
        params.append(started_from)
    if started_to is not None:
        conditions.append("started_at < ?")
        params.append(started_to)
    where = buckets.where_sql(conditions)
    return tuple(conn.execute(f"SELECT {edge}(started_at) FROM sessions{where}", params).fetchone()[0]
                 for edge in ("min", "max"))


def overview(sums, earliest, latest):
    sessions, errors = sums["sessions"], sums.sessions("error")
    tokens_in, tokens_out = sums["tokens_in"], sums["tokens_out"]
    return {
        "total_sessions": sessions,
        "active_sessions": sums.sessions("active"),
        "completed_sessions": sums.sessions("completed"),
        "error_sessions": errors,
        "error_rate": ratio(errors, sessions, scale=100),
        "total_events": sums["events"],
        "total_tokens": tokens_in + tokens_out,
        "total_tokens_in": tokens_in,
        "total_tokens_out": tokens_out,
        "total_cost_usd": usd(sums["cost_nanos"]),
        "avg_tokens_per_session": ratio(tokens_in + tokens_out, sessions, places=0),
        "earliest_session": format_ms(earliest),
        "latest_session": format_ms(latest),
    }


def duration(sums):
    """Wall-clock duration of the sessions that have ended."""
    ended = sums["ended_sessions"]
    if not ended:
        return {"avg_ms": 0, "min_ms": 0, "max_ms": 0}
    # Whole milliseconds, as the API's example and the reference give it.
    return {"avg_ms": ratio(sums["duration_ms"], ended, places=0), "min_ms": sums.min_duration,
            "max_ms": sums.max_duration}


def top_agents(by_agent):
    ranked = sorted(by_agent.items(), key=lambda item: (
        -(item[1]["tokens_in"] + item[1]["tokens_out"]), -item[1]["sessions"], item[0]))
    return [
        {"agent_name": agent, "session_count": sums["sessions"],
         "total_tokens": sums["tokens_in"] + sums["tokens_out"],
         "avg_tokens": ratio(sums["tokens_in"] + sums["tokens_out"], sums["sessions"], places=0),
         "total_cost_usd": usd(sums["cost_nanos"])}
        for agent, sums in ranked[:TOP_AGENTS] if sums["sessions"]
    ]


def measure(values, name):
    return values[EVENT_MEASURES.index(name)]


def model_usage(models):
    by_model = defaultdict(lambda: [0] * len(EVENT_MEASURES))
    for (_, model), values in models.items():
        if model:
            buckets.add(by_model[model], values)
    # By tokens, as the reference orders it; then by calls and name, so ties are stable.
    rows = sorted(by_model.items(), key=lambda item: (
        -(measure(item[1], "tokens_in") + measure(item[1], "tokens_out")),
        -measure(item[1], "events"), item[0]))
    return [
        {"model": model, "call_count": measure(values, "events"),
         "total_tokens": measure(values, "tokens_in") + measure(values, "tokens_out"),
         "total_tokens_in": measure(values, "tokens_in"),
         "total_tokens_out": measure(values, "tokens_out"),
         "avg_duration_ms": ratio(measure(values, "duration_us"),
                                  measure(values, "timed_events") * 1000),
         "cost_usd": model_cost(values)}
        for model, values in rows if measure(values, "events")
    ]


def model_cost(values):
    """A model's cost: unknown (null), not a partial sum, when some call had tokens
    but no price."""
    return None if measure(values, "unpriced_events") else usd(measure(values, "cost_nanos"))


def unpriced_models(models):
    """The models whose calls had tokens but no price (null: calls without a model),
    so that no missing cost passes for zero: ``[{"model", "calls", "tokens"}]``."""
    unpriced = defaultdict(lambda: [0, 0])
    for (_, model), values in models.items():
        unpriced[model or None][0] += measure(values, "unpriced_events")
        unpriced[model or None][1] += measure(values, "unpriced_tokens")
    return [{"model": model, "calls": calls, "tokens": tokens}
            for model, (calls, tokens) in sorted(
                unpriced.items(), key=lambda item: (-item[1][0], item[0] is None, item[0] or ""))
            if calls]


def event_types(models):
    counts = defaultdict(int)
    for (event_type, _), values in models.items():
        counts[event_type] += measure(values, "events")
    return [{"event_type": event_type, "count": count}
            for event_type, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            if count]


def sessions_over_time(by_day):
    return [{"day": format_day(day), "session_count": sums["sessions"],
             "total_tokens": sums["tokens_in"] + sums["tokens_out"],
             "cost_usd": usd(sums["cost_nanos"])}
            for day, sums in sorted(by_day.items()) if sums["sessions"]]
